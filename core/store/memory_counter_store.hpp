#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/enforcement/rate_limit_headers.hpp"
#include "core/store/counter_store.hpp"
#include "core/store/reconcile_script.hpp"

namespace spendgate::core {

/**
 * The embedded default store: everything in this process, guarded by one mutex held only for
 * the arithmetic (callbacks run after it is released, inline, before the call returns).
 * It is also the reference implementation: core/store/lua/ scripts mirror it step by step.
 * Time comes only from the callers (plan.now, settlement.now, the `now` arguments).
 * Memory is reclaimed lazily: counters and records past their keep-until time are treated as
 * absent on access and dropped by a sweep at most once a minute.
 */
class MemoryCounterStore final : public CounterStore {
public:
  MemoryCounterStore() = default;
  /**
   * @param record_retention how long a settled or expired reservation is remembered so that a
   *        repeated settle is recognised. The proxy's in-process stores pass 0: nothing there
   *        settles twice, and at thousands of requests a second an hour of records is gigabytes.
   *        With 0 a repeated settle answers UnknownReservation, which changes nothing either.
   */
  explicit MemoryCounterStore(std::chrono::milliseconds record_retention)
      : retention_ms_(record_retention.count()) {}

  // CounterStore
  void admit(const EnforcementPlan& plan,
             const std::string& reservation_id,
             std::chrono::system_clock::time_point expires_at,
             AdmitCallback callback) override;
  void settle(const Settlement& settlement, SettleCallback callback) override;
  void budgets(std::chrono::system_clock::time_point now, BudgetsCallback callback) override;
  void spend(const std::string& spend_key, SpendCallback callback) override;
  void emergencyStop(EmergencyStopCallback callback) override;
  void setEmergencyStop(const EmergencyStopState& state, EmergencyStopCallback callback) override;
  void replaceEmergencyStop(const EmergencyStopState& expected,
                            const EmergencyStopState& next,
                            EmergencyStopCallback callback) override;
  bool up() const override { return true; }

  /**
   * Called (no lock held, on the caller's thread) after setEmergencyStop or replaceEmergencyStop
   * changed the emergency stop, before their callback. The proxy keeps the state in a file with
   * it (docs/enforcement.md, "Across restarts"); read the state back with emergencyStop(). Set
   * before serving; not safe to change while other threads use the store.
   */
  void setEmergencyStopListener(std::function<void()> listener) {
    emergency_stop_listener_ = std::move(listener);
  }
  std::optional<AdmissionResult> admitAtOnce(
      const EnforcementPlan& plan,
      const std::string& reservation_id,
      std::chrono::system_clock::time_point expires_at) override {
    return admitNow(plan, reservation_id, expires_at);
  }

  /** admit() answering directly: the memory store never waits, so no callback is needed. */
  AdmissionResult admitNow(const EnforcementPlan& plan,
                           const std::string& reservation_id,
                           std::chrono::system_clock::time_point expires_at);
  /** settle() answering directly (always a success). */
  StoreResult<SettleResult> settleNow(const Settlement& settlement);
  /**
   * settleNow() written into `result`, every member overwritten: a caller that settles into the
   * same SettleResult again and again keeps its budget snapshots' capacity (no allocation).
   */
  void settleNow(const Settlement& settlement, SettleResult& result);
  /** settleNow(settlement, result): the memory store always answers at once. */
  bool settleAtOnce(const Settlement& settlement, SettleResult& result) override {
    settleNow(settlement, result);
    return true;
  }

  /**
   * Adds a request's real cost to its budget counters (hard and soft: spent += cost) and to the
   * global spend counter WITHOUT a reservation, as a settle would have: the memory store's
   * counterpart of reconcile.lua's steps 3 and 4. A missing counter is created with the
   * charge's metadata; limit and mode follow the charge (the current config). Rate limits are
   * not touched. Unlike reconcile.lua there is no once-per-id marker: the caller adds each
   * request once (the ledger replay at start-up, docs/ledger.md). Always answers Added.
   */
  ReconcileResult addSettled(const Reconciliation& reconciliation);

  /**
   * @return the keys of the budget counters held at `now` (a hot reload takes them before it
   * seeds the counters the new rules bring from the ledger, docs/ledger.md "Reload").
   */
  std::unordered_set<std::string> budgetCounterKeys(
      std::chrono::system_clock::time_point now) const;

  /** @return counters, rate states and reservation records held (memory reclamation tests). */
  std::size_t entryCountForTest() const;

private:
  struct Counter {
    BudgetSnapshot snapshot;
    std::int64_t keep_until_ms = 0;
  };
  struct RateState {
    std::int64_t requests_level = 0;  // gcra level units (see core/enforcement/gcra.hpp)
    std::int64_t tokens_level = 0;
    std::int64_t last_ms = 0;
    std::int64_t inflight = 0;
    std::int64_t requests_per_minute = 0;  // as of the last admit, for draining on settle
    std::int64_t tokens_per_minute = 0;
    std::int64_t keep_until_ms = 0;
  };
  struct SpendCounter {
    Picodollars total = 0;
    std::int64_t keep_until_ms = 0;
  };
  enum class ReservationState { Active, Expired, Settled };
  struct HeldBudget {
    std::string key;
    Picodollars reserved = 0;  // 0 for soft budgets
  };
  struct HeldRate {
    std::string key;
    bool tokens = false;  // had a tokens_per_minute limit: settle corrects its bucket
    bool slot = false;    // holds a concurrency slot
  };
  struct Reservation {
    ReservationState state = ReservationState::Active;
    std::int64_t expires_ms = 0;
    std::int64_t forget_ms = 0;
    std::int64_t token_estimate = 0;
    std::vector<HeldBudget> budgets;
    std::vector<HeldRate> rates;
    std::string spend_key;
    std::int64_t spend_keep_until_ms = 0;
  };

  AdmissionResult admitLocked(const EnforcementPlan& plan,
                              const std::string& reservation_id,
                              std::int64_t expires_ms);
  void settleLocked(const Settlement& settlement, SettleResult& result);
  /**
   * An empty record under `id` (absent until now), in the node of the last record forgotten at
   * its settlement when there is one: its strings and vectors keep their capacity, so the steady
   * state allocates nothing for a reservation. Every field is the caller's to set.
   */
  Reservation& newReservationLocked(const std::string& id);
  /** expiries_ gains (expires_ms, id), in the spare node when there is one. */
  void addExpiryLocked(std::int64_t expires_ms, const std::string& id);
  void sweepLocked(std::int64_t now_ms);
  void expireLocked(Reservation& reservation, std::int64_t now_ms);
  Counter* findCounterLocked(const std::string& key, std::int64_t now_ms);
  /**
   * The counter `b` charges, made if it is new; its limit and mode set from `b`. `found`: the
   * live counter under b.counter_key when the caller has just looked it up (not looked up again).
   */
  Counter* chargedCounterLocked(const BudgetCharge& b,
                                std::int64_t now_ms,
                                Counter* found = nullptr);
  /** The live global spend counter under `key`, made (at zero) if it is new or forgotten. */
  SpendCounter& spendCounterLocked(const std::string& key, std::int64_t now_ms);
  RateState* findRateLocked(const std::string& key, std::int64_t now_ms);
  void advanceLocked(RateState& state, std::int64_t now_ms) const;

  mutable std::mutex mutex_;
  std::unordered_map<std::string, Counter> counters_;
  std::unordered_map<std::string, RateState> rates_;
  std::unordered_map<std::string, SpendCounter> spend_;
  std::unordered_map<std::string, Reservation> reservations_;
  std::multimap<std::int64_t, std::string> expiries_;  // active reservations by expires_ms
  // The last nodes taken out at a settlement, reused by the next admission (see
  // newReservationLocked): the record and the expiry entry cost no allocation then.
  std::unordered_map<std::string, Reservation>::node_type spare_reservation_;
  std::multimap<std::int64_t, std::string>::node_type spare_expiry_;
  // admitLocked's scratch, used under the lock and kept for its capacity: the drained levels of
  // each rate limit, and the live state and counter each rate limit and hard budget was read
  // from (null: none), so charging does not look them up again.
  std::vector<RateLevels> checks_;
  std::vector<RateState*> checked_rates_;
  std::vector<Counter*> checked_counters_;
  EmergencyStopState emergency_stop_;
  std::function<void()> emergency_stop_listener_;
  std::int64_t next_prune_ms_ = 0;
  std::int64_t retention_ms_ = kReservationRecordRetention.count();
};

}  // namespace spendgate::core
