#pragma once

#include <boost/json/array.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "core/alerts/alert.hpp"
#include "core/alerts/alert_engine.hpp"
#include "core/enforcement/emergency_stop.hpp"
#include "core/enforcement/rules.hpp"
#include "core/store/counter_store_types.hpp"

namespace spendgate::proxy {

class Logger;

/** How long a claim on an alert id should last in a shared store (longer than any period). */
inline constexpr std::chrono::seconds kAlertClaimTtl{35 * 24 * 3600};

/** Delivery of one alert to one sink, as GET /admin/alerts shows it. */
struct AlertDelivery {
  std::size_t sink = 0;  // index in alerts.sinks (URLs are secrets: never shown)
  std::string type;      // "slack" | "webhook" | "email"
  std::string status;    // "pending" | "retrying" | "sent" | "failed" | "dropped"
  int attempts = 0;
  std::string error;  // the last failure, "" if none
  std::optional<std::chrono::system_clock::time_point> sent_at;
};

/** One alert with its delivery state. */
struct AlertRecord {
  core::Alert alert;
  /**
   * "claiming"  waiting for the shared store to say whether this instance sends it;
   * "duplicate" another instance claimed it (and sends it);
   * "pending"   deliveries under way; "sent" every sink took it; "partial" some did;
   * "failed"    none did; "no_sink" no sink accepts its level; "dropped" the queue was full
   * or the dispatcher stopped first.
   */
  std::string status;
  std::vector<AlertDelivery> deliveries;
};

/** Tunables; the defaults are what the proxy uses (docs/alerts.md). */
struct AlertDispatchOptions {
  std::size_t queue_capacity = 1000;  // alerts waiting to be claimed, and deliveries waiting
  std::size_t history = 200;          // records kept for GET /admin/alerts
  int max_attempts = 3;
  std::chrono::milliseconds attempt_timeout{5000};  // per attempt, connect to last byte
  std::chrono::milliseconds first_backoff{1000};    // then doubled: 1 s, 2 s, ...
  std::size_t max_in_flight_per_sink = 4;           // a hung sink only holds its own slots
  core::AlertSettings engine;                       // `cooldown` comes from the config
};

/**
 * Turns events into alerts (core::AlertEngine) and sends them to the configured sinks (Slack
 * webhook, generic JSON webhook, email over SMTP) from its own thread with libcurl's multi
 * interface, so callers never wait on the network: every public call only takes a short lock.
 * Thread-safe. See docs/alerts.md.
 *
 * Each alert is first CLAIMED through `claim` (several instances sharing a store compute the
 * same alert ids; only the one whose claim succeeds sends). The proxy wires Redis
 * `SET alert:<id> 1 NX EX <kAlertClaimTtl>`; the memory store uses memoryClaim().
 */
class AlertDispatcher {
public:
  using ClaimCallback = std::function<void(bool claimed)>;
  /**
   * Answers once, from any thread, possibly before it returns: true = this instance sends the
   * alert. On a store error answer true (an alert sent twice beats one never sent).
   */
  using ClaimFunction = std::function<void(const std::string& alert_id, ClaimCallback)>;

  /**
   * Starts the sender thread. `rules.budgets` give the alert_at thresholds.
   * @param claim empty = memoryClaim()
   */
  AlertDispatcher(const config::AlertsConfig& config,
                  const core::Rules& rules,
                  Logger& logger,
                  ClaimFunction claim = {},
                  AlertDispatchOptions options = {});
  ~AlertDispatcher();  // stop()

  AlertDispatcher(const AlertDispatcher&) = delete;
  AlertDispatcher& operator=(const AlertDispatcher&) = delete;

  /** A request settled: `budgets` = SettleResult::budgets, `now` = Settlement::now. */
  void onSettled(const std::vector<core::BudgetSnapshot>& budgets,
                 std::chrono::system_clock::time_point now);

  /**
   * Like onSettled, but what the engine decides is dropped, not sent: the start-up replay of
   * the ledger feeds each replayed record's counters here (with the record's time), so the
   * engine knows which thresholds and projections the period has already crossed (they were
   * alerted before the restart) and alerts only on what live traffic crosses afterwards.
   */
  void primeSettled(const std::vector<core::BudgetSnapshot>& budgets,
                    std::chrono::system_clock::time_point now);

  /** The emergency stop changed (admin API, auto trigger, or seen changed in the store). */
  void onEmergencyStopChanged(const core::EmergencyStopState& before,
                              const core::EmergencyStopState& after,
                              std::chrono::system_clock::time_point now);

  /** Queues alerts made elsewhere (they are claimed and sent like the engine's). */
  void submit(std::vector<core::Alert> alerts);

  /**
   * Hot reload: new sinks (url_env read again), cooldown and thresholds. Deliveries under way
   * finish with the sink they started with; what has fired stays fired.
   */
  void reconfigure(const config::AlertsConfig& config, const core::Rules& rules);

  /** Stops the thread; deliveries not finished are dropped. Idempotent; later calls are no-ops. */
  void stop();

  /** @return the last `history` alerts, newest first, with their delivery state. */
  std::vector<AlertRecord> recent() const;

  /**
   * @return recent() as JSON for GET /admin/alerts: each core::alertToJson(alert) plus
   * "status" and "deliveries": [{"sink","type","status","attempts","error","sent_at"}].
   */
  boost::json::array recentJson() const;

  /** Blocks until nothing is waiting to be claimed or sent (tests, shutdown); false on timeout. */
  bool waitIdle(std::chrono::milliseconds timeout) const;

  /**
   * The claim for a single instance (memory store): the first claim of an id within `ttl`
   * wins. Dispatchers given the same function share its state (tests: two "instances").
   */
  static ClaimFunction memoryClaim(std::chrono::milliseconds ttl = kAlertClaimTtl);

  struct State;  // shared with the sender thread and with claim callbacks

private:
  std::shared_ptr<State> state_;
  std::thread thread_;
  std::once_flag stopped_;
};

/** @return the record as JSON (see AlertDispatcher::recentJson). */
boost::json::object alertRecordJson(const AlertRecord& record);

}  // namespace spendgate::proxy
