#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/enforcement/emergency_stop.hpp"
#include "core/enforcement/enforcement_plan.hpp"
#include "core/store/counter_store_types.hpp"

namespace spendgate::core {

/**
 * Where budgets, rate limits, reservations and the emergency stop live: in this process
 * (MemoryCounterStore) or shared by every proxy instance (the Redis store in proxy/, running
 * core/store/lua/ scripts). Both have exactly the semantics documented here and in
 * docs/enforcement.md; tests/core/store/ runs one contract suite against both.
 *
 * Asynchronous by callback, like Envoy's RateLimit::Client. Each callback is called exactly once.
 * **The callback may run before the call returns** (the memory store completes inline; the Redis
 * store completes later on the event loop), so do not hold a lock the callback needs.
 * Arguments are copied before the call returns; the caller need not keep them alive.
 * Implementations are thread-safe.
 */
class CounterStore {
public:
  using AdmitCallback = std::function<void(AdmissionResult)>;
  using SettleCallback = std::function<void(StoreResult<SettleResult>)>;
  using BudgetsCallback = std::function<void(StoreResult<std::vector<BudgetSnapshot>>)>;
  using SpendCallback = std::function<void(StoreResult<Picodollars>)>;
  using EmergencyStopCallback = std::function<void(StoreResult<EmergencyStopState>)>;

  virtual ~CounterStore() = default;

  /**
   * Admits one request in ONE atomic step, all or nothing, at `plan.now`:
   *  0. releases reservations whose expiry has passed (at most kExpirySweepLimit per call);
   *  1. refuses (emergency_stop) while the shared emergency stop blocks: a backstop for the
   *     proxy's own earlier check, so a stop set on another instance takes effect at once;
   *  2. checks every rate limit (GCRA for requests and tokens per minute, a count of in-flight
   *     requests for concurrency); on refusal the denial names the rule that keeps the request
   *     waiting longest and retry_after is the true wait until it would pass;
   *  3. checks every HARD budget: spent + reserved + worst case <= limit (soft budgets are not
   *     checked); the first one in config order that refuses is reported;
   *  4. only if all pass: charges the rate limits, reserves the worst case on every hard budget
   *     and records the reservation under `reservation_id` until `expires_at`.
   * A refusal changes nothing. A reservation that is not settled by `expires_at` is charged: the
   * request may have been billed (its instance may have crashed), so on every hard budget its
   * worst case moves from reserved to spent; its concurrency slot is released and its token
   * charge stays. A late settle replaces that worst case with the real cost.
   * Admitting an id that is still active again answers Allowed without charging twice (a
   * transport retry is safe); an id already settled or expired answers StoreError.
   * @param plan from plan(); must not carry a denial (that one is answered as Denied)
   * @param expires_at choose beyond the request timeout: a later settle only corrects spent
   */
  virtual void admit(const EnforcementPlan& plan,
                     const std::string& reservation_id,
                     std::chrono::system_clock::time_point expires_at,
                     AdmitCallback callback) = 0;

  /**
   * admit() answered at once, when this store can answer without waiting (the memory store
   * always; the leasing store from this instance's slices); nullopt means "call admit()", and
   * then nothing was charged. Lets a caller skip the callback and its post on the hot path.
   */
  virtual std::optional<AdmissionResult> admitAtOnce(
      const EnforcementPlan& /*plan*/,
      const std::string& /*reservation_id*/,
      std::chrono::system_clock::time_point /*expires_at*/) {
    return std::nullopt;
  }

  /**
   * Replaces the reservation with the real cost, at `settlement.now`: on every budget counter
   * (hard: reserved -= worst case; hard and soft: spent += actual), on every token bucket
   * (+= actual - estimate), releases the concurrency slots, and adds the actual cost to the
   * emergency stop's global spend counter. Idempotent per reservation id. Settle with cost 0
   * and tokens 0 to release a request that never reached the provider.
   */
  virtual void settle(const Settlement& settlement, SettleCallback callback) = 0;

  /**
   * settle() answered at once into `result` (every member overwritten), when this store can
   * answer without waiting (the memory store); false means "call settle()", and then nothing was
   * settled. Lets a caller skip the callback, its copy of the settlement and a type test.
   */
  virtual bool settleAtOnce(const Settlement& /*settlement*/, SettleResult& /*result*/) {
    return false;
  }

  /** @return every budget counter whose period contains `now`, sorted by name then subject. */
  virtual void budgets(std::chrono::system_clock::time_point now, BudgetsCallback callback) = 0;

  /** @return the total of a global spend counter (SpendCharge::key); 0 when it has none. */
  virtual void spend(const std::string& spend_key, SpendCallback callback) = 0;

  /** @return the shared emergency stop state (inactive when never set). */
  virtual void emergencyStop(EmergencyStopCallback callback) = 0;

  /** Replaces the shared emergency stop state (last writer wins); answers the stored state. */
  virtual void setEmergencyStop(const EmergencyStopState& state,
                                EmergencyStopCallback callback) = 0;

  /**
   * Stores `next` only if the store still holds `expected` (the same `active` and `since`, to the
   * millisecond), as one atomic step; answers the state the store holds afterwards: `next`, or
   * whatever replaced `expected` in the meantime (another instance's new stop must survive).
   */
  virtual void replaceEmergencyStop(const EmergencyStopState& expected,
                                    const EmergencyStopState& next,
                                    EmergencyStopCallback callback) = 0;

  /** @return whether the store answered recently (for /readyz and spendgate_store_up). */
  virtual bool up() const = 0;
};

using CounterStorePtr = std::shared_ptr<CounterStore>;

}  // namespace spendgate::core
