#include "core/ledger/ledger_replay_planner.hpp"

#include <algorithm>

#include "core/enforcement/planner.hpp"

namespace spendgate::core {

namespace {

bool contains(const PeriodWindow& window, std::chrono::system_clock::time_point t) {
  return window.start <= t && t < window.end;
}

}  // namespace

LedgerReplayPlanner::LedgerReplayPlanner(const Rules& rules,
                                         std::chrono::system_clock::time_point now)
    : rules_(rules), now_(now), stats_from_(now) {
  for (const Period period : kSpendPeriods) {
    stats_from_ = std::min(stats_from_, periodWindow(period, now).start);
  }
}

ReplayCharges LedgerReplayPlanner::charges(const LedgerEntry& entry) const {
  ReplayCharges out;
  out.spend_stats = entry.ts >= stats_from_;
  // The attributes a live request is planned with (ClientSession::enforce): the REQUESTED
  // model, not the priced one, and the identity's key id or fingerprint.
  const RequestAttributes attributes{entry.provider, entry.requested_model, entry.key,  entry.user,
                                     entry.team,     entry.customer,        entry.agent};
  // Worst case 0: the per-request limit never refuses, and the plan is only read for its
  // counters.
  EnforcementPlan plan = core::plan(rules_, attributes, 0, 0, entry.ts);
  for (BudgetCharge& charge : plan.budgets) {
    if (contains(charge.window, now_)) out.reconciliation.budgets.push_back(std::move(charge));
  }
  if (plan.spend && contains(plan.spend->window, now_)) out.reconciliation.spend = plan.spend;
  if (out.empty()) return out;
  out.reconciliation.reservation_id = entry.request_id;
  out.reconciliation.actual_cost = entry.cost_picousd;
  // A ledger line is read back as written, any int64 included (a hand-edited or foreign file).
  out.reconciliation.actual_tokens = saturatingAdd(entry.input_tokens, entry.output_tokens);
  out.reconciliation.settled_at = entry.ts;
  return out;
}

std::chrono::system_clock::time_point LedgerReplayPlanner::statsTime(
    const LedgerEntry& entry) const {
  return std::min(entry.ts, now_);
}

}  // namespace spendgate::core
