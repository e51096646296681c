#include "core/store/reconcile_script.hpp"

#include <algorithm>

#include "core/enforcement/period.hpp"
#include "core/enforcement/planner.hpp"
#include "core/store/budgets_script.hpp"

namespace spendgate::core {

namespace {
std::string str(std::int64_t value) { return std::to_string(value); }
}  // namespace

Reconciliation Reconciliation::of(const EnforcementPlan& plan, const Settlement& settlement) {
  Reconciliation r;
  r.reservation_id = settlement.reservation_id;
  r.budgets = plan.budgets;
  r.spend = plan.spend;
  r.actual_cost = std::max<Picodollars>(0, settlement.actual_cost);
  r.actual_tokens = settlement.actual_tokens;
  r.settled_at = settlement.now;
  return r;
}

std::string ReconcileScript::markerKey(const StoreKeys& keys, const std::string& reservation_id) {
  return keys.prefix() + "reconciled:" + escapeKeyPart(reservation_id);
}

ScriptCall ReconcileScript::call(const StoreKeys& keys,
                                 const Reconciliation& r,
                                 std::chrono::system_clock::time_point now,
                                 bool server_time) {
  ScriptCall c;
  c.keys = {markerKey(keys, r.reservation_id), keys.expiries(), keys.reservation(r.reservation_id),
            keys.budgetIndex()};
  for (const BudgetCharge& b : r.budgets) c.keys.push_back(keys.counter(b.counter_key));
  if (r.spend) c.keys.push_back(keys.counter(r.spend->key));
  c.args = {
      server_time ? std::string() : str(unixMillis(now)),
      str(kReconcileMarkerRetention.count()),
      str(kReservationRecordRetention.count()),
      str(std::max<Picodollars>(0, r.actual_cost)),
      str(static_cast<std::int64_t>(r.budgets.size())),
      r.spend ? "1" : "0",
      r.spend ? str(unixMillis(r.spend->window.end) + kReservationRecordRetention.count()) : "0"};
  for (const BudgetCharge& b : r.budgets) {
    c.args.insert(c.args.end(),
                  {str(b.limit), b.mode == BudgetMode::Hard ? "1" : "0",
                   str(unixMillis(b.window.start)), str(unixMillis(b.window.end)), b.name,
                   std::string(scopeName(b.scope)), b.subject, std::string(periodName(b.period))});
  }
  return c;
}

StoreResult<ReconcileResult> ReconcileScript::parse(const StoreKeys& keys,
                                                    const ScriptValue& reply) {
  using Result = StoreResult<ReconcileResult>;
  if (reply.type == ScriptValue::Type::Error) return Result::failure("reconcile.lua: " + reply.str);
  if (reply.type != ScriptValue::Type::Array || reply.elements.empty()) {
    return Result::failure("reconcile.lua: unexpected reply");
  }
  const auto& items = reply.elements;
  const auto tag = items[0].toText();
  ReconcileResult result;
  if (tag == "already" && items.size() == 1) {
    result.outcome = ReconcileOutcome::AlreadyReconciled;
    return Result::success(std::move(result));
  }
  if (tag != "added" || items.size() < 2) return Result::failure("reconcile.lua: unexpected reply");
  result.outcome = ReconcileOutcome::Added;
  if (const auto spend = items[1].toText(); spend && !spend->empty()) {
    const auto total = items[1].toInt();
    if (!total) return Result::failure("reconcile.lua: malformed spend");
    result.period_spend = *total;
  }
  if (!BudgetsScript::parseRows(keys, items, 2, result.budgets)) {
    return Result::failure("reconcile.lua: malformed counter rows");
  }
  return Result::success(std::move(result));
}

}  // namespace spendgate::core
