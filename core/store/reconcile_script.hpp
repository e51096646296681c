#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/enforcement/enforcement_plan.hpp"
#include "core/store/counter_store_types.hpp"
#include "core/store/script_value.hpp"
#include "core/store/store_keys.hpp"

namespace spendgate::core {

/**
 * How long the shared store remembers that a reservation id was reconciled, so that a retry
 * (lost reply, a second pass) adds nothing. A retry later than this would count again.
 */
inline constexpr std::chrono::milliseconds kReconcileMarkerRetention{7LL * 24 * 3600 * 1000};

/**
 * The real cost of one request that was admitted and settled by an instance's LOCAL store while
 * the shared store was unavailable (fail_open), to be added to the shared store once it is back.
 * Built from the request's plan (the counters it was charged to, in the period it was admitted
 * in) and its settlement.
 */
struct Reconciliation {
  std::string reservation_id;
  /** The plan's budget counters (hard and soft); `amount` is ignored, `actual_cost` is added. */
  std::vector<BudgetCharge> budgets;
  /** The emergency stop's global spend counter, when the plan had one. */
  std::optional<SpendCharge> spend;
  Picodollars actual_cost = 0;     // negative counts as 0
  std::int64_t actual_tokens = 0;  // kept for logs; rate limits are not replayed
  /** When the request was settled locally. */
  std::chrono::system_clock::time_point settled_at;

  /** @return a reconciliation of `plan`'s counters with the real cost of `settlement`. */
  static Reconciliation of(const EnforcementPlan& plan, const Settlement& settlement);
};

enum class ReconcileOutcome {
  Added,             // the cost was added to every counter (and the marker set)
  AlreadyReconciled  // the marker was there: nothing changed
};

struct ReconcileResult {
  ReconcileOutcome outcome = ReconcileOutcome::Added;
  /** The budget counters after the addition (Added only). */
  std::vector<BudgetSnapshot> budgets;
  /** The global spend counter after the addition (Added with a spend counter only). */
  std::optional<Picodollars> period_spend;
};

/** The arguments and reply of core/store/lua/reconcile.lua (see AdmitScript). */
class ReconcileScript {
public:
  /**
   * @param now the caller's clock when reconciling (TTLs); ignored with `server_time`
   */
  static ScriptCall call(const StoreKeys& keys,
                         const Reconciliation& reconciliation,
                         std::chrono::system_clock::time_point now,
                         bool server_time = false);

  static StoreResult<ReconcileResult> parse(const StoreKeys& keys, const ScriptValue& reply);

  /** @return the marker key of `reservation_id` ("<prefix>reconciled:<escaped id>"). */
  static std::string markerKey(const StoreKeys& keys, const std::string& reservation_id);
};

}  // namespace spendgate::core
