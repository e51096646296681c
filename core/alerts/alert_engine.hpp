#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/alerts/alert.hpp"
#include "core/enforcement/emergency_stop.hpp"
#include "core/enforcement/rules.hpp"
#include "core/pricing/money.hpp"
#include "core/store/counter_store_types.hpp"

namespace spendgate::core {

/** Tunables of the alert rules; `cooldown` is `alerts.cooldown`, the rest are fixed defaults. */
struct AlertSettings {
  /** A second alert with the same cooldown key (kind + budget + subject) within this is dropped. */
  std::chrono::milliseconds cooldown{3600000};
  /** Projection waits until this fraction of the period has passed (early spend is noise). */
  double projection_min_elapsed = 0.1;
  /** Spend-rate: last hour > factor x average hourly spend of the previous 24 h ... */
  double spend_rate_factor = 3.0;
  /** ... and the last hour's spend is at least this much (a quiet budget never alerts on cents). */
  Picodollars spend_rate_min = 5 * kPicodollarsPerUsd;
  /** ... and at least this much history before the last hour was observed (baseline). */
  std::chrono::milliseconds spend_rate_min_baseline{3600000};
  /**
   * Spend-rate: every charge to a counter is a settle this engine sees (one instance, memory
   * store), so a counter's growth happened at the settle that shows it and is not spread back
   * over the time since the counter was last seen (which is for spend by other instances).
   */
  bool every_charge_observed = false;
};

/**
 * Decides which alerts to send, from the events the proxy feeds it (docs/alerts.md). Pure and
 * clock-driven: no I/O, `now` comes from the caller. NOT thread-safe: the caller serialises.
 *
 * The engine returns CANDIDATES. Several proxy instances sharing one store each run an engine
 * and compute the same `Alert::id` for the same event, so the sender claims each id in the
 * shared store before sending (AlertDispatcher's `claim`).
 */
class AlertEngine {
public:
  explicit AlertEngine(std::vector<BudgetRule> budgets = {}, AlertSettings settings = {});

  /** Hot reload: new rules and settings; what has fired and the spend history are kept. */
  void reconfigure(std::vector<BudgetRule> budgets, AlertSettings settings);

  /**
   * A request settled; `after` are the budget counters it was charged to, after the settlement
   * (SettleResult::budgets). Spent values are shared totals, so they include what other
   * instances spent. @return the alerts to send (threshold, projection, spend rate), in order.
   */
  std::vector<Alert> onBudgetSettled(const std::vector<BudgetSnapshot>& after,
                                     std::chrono::system_clock::time_point now);
  /** The same, appending the alerts to `out` (no vector made and moved per settlement). */
  void onBudgetSettled(const std::vector<BudgetSnapshot>& after,
                       std::chrono::system_clock::time_point now,
                       std::vector<Alert>& out);

  /**
   * The emergency stop changed: tripping is critical, clearing is info. A stop that ran out says
   * so ("ended: its time ran out"); a new trip straight from a stop that ran out sends the off
   * alert of the expiry before the new on alert.
   */
  std::vector<Alert> onEmergencyStopChanged(const EmergencyStopState& before,
                                            const EmergencyStopState& after,
                                            std::chrono::system_clock::time_point now);

  /** @return how many alerts the cooldown has dropped so far. */
  std::uint64_t suppressed() const { return suppressed_; }

  /** @return how many budget counters the engine keeps state for (tests, memory bound). */
  std::size_t trackedCounters() const { return counters_.size(); }

private:
  // 5-minute spend buckets for the spend-rate rule, sparse (only buckets with spend).
  static constexpr std::int64_t kBucketMillis = 5 * 60 * 1000;

  struct CounterState {  // one (budget, subject, period window)
    std::chrono::system_clock::time_point window_end;
    std::set<double> fired_thresholds;  // alert_at fractions fired or superseded
    bool projection_fired = false;
  };
  struct RateState {  // one (budget, subject), across periods
    std::chrono::system_clock::time_point tracked_since;
    std::chrono::system_clock::time_point last_seen;
    std::chrono::system_clock::time_point last_window_start;
    Picodollars last_spent = 0;
    std::deque<std::pair<std::int64_t, Picodollars>> buckets;  // bucket index -> spend, ascending
    std::int64_t last_alert_hour = -1;                         // unix hours of the last alert
  };

  /**
   * What one position of SettleResult::budgets resolved to last time: consecutive settlements
   * mostly name the same counters in the same order, so the map lookups (and the keys they
   * need) are skipped while name, subject and period stay the same. prune() clears it.
   */
  struct Tracked {
    std::string name;
    std::string subject;
    std::chrono::system_clock::time_point start;
    CounterState* counter = nullptr;  // counters_[budgetCounterKey(name, subject, start)]
    std::string rate_key;             // "<name>:<subject>", escaped
    RateState* rate = nullptr;        // rates_[rate_key], once spendRate() has seen it
    /**
     * Spent amounts below which thresholds() and projection() return without doing anything,
     * for the budget's rule and limit at `floors_generation` (see setFloors): most settlements
     * are far below every threshold, and these two comparisons replace the arithmetic that
     * finds so. 0 = not computed.
     */
    std::uint64_t floors_generation = 0;
    Picodollars floors_limit = 0;
    Picodollars threshold_floor = 0;
    Picodollars projection_floor = 0;
  };

  const BudgetRule* findRule(const std::string& name) const;
  void setFloors(Tracked& tracked, const BudgetRule& rule, Picodollars limit) const;
  void thresholds(const BudgetSnapshot& s,
                  const BudgetRule& rule,
                  CounterState& state,
                  std::chrono::system_clock::time_point now,
                  std::vector<Alert>& out);
  void projection(const BudgetSnapshot& s,
                  CounterState& state,
                  std::chrono::system_clock::time_point now,
                  std::vector<Alert>& out);
  void spendRate(const BudgetSnapshot& s,
                 Tracked& tracked,
                 std::chrono::system_clock::time_point now,
                 std::vector<Alert>& out);
  void emergencyStopOn(const EmergencyStopState& after,
                       std::chrono::system_clock::time_point now,
                       std::vector<Alert>& out);
  void emergencyStopOff(const EmergencyStopState& before,
                        const EmergencyStopState& after,
                        std::chrono::system_clock::time_point now,
                        std::vector<Alert>& out);
  /** @return true (and starts the cooldown) unless `key` fired within the cooldown. */
  bool passCooldown(const std::string& key, std::chrono::system_clock::time_point now);
  /**
   * Emergency-stop transitions are distinct events an operator must see, so they skip the
   * cooldown: @return false only when this very event (`id`) already fired within it.
   */
  bool firstSight(const std::string& id, std::chrono::system_clock::time_point now);
  void prune(std::chrono::system_clock::time_point now);

  std::vector<BudgetRule> budgets_;
  AlertSettings settings_;
  std::map<std::string, CounterState> counters_;  // budgetCounterKey
  std::map<std::string, RateState> rates_;        // "<budget>:<subject>", escaped
  std::map<std::string, std::chrono::system_clock::time_point> cooldowns_;  // key -> last sent
  std::chrono::system_clock::time_point last_prune_{};
  std::vector<Tracked> tracked_;
  std::uint64_t generation_ = 1;  // counts reconfigure() calls: Tracked floors older are stale
  std::uint64_t suppressed_ = 0;
};

}  // namespace spendgate::core
