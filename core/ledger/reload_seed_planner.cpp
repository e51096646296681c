#include "core/ledger/reload_seed_planner.hpp"

#include <algorithm>
#include <cmath>

namespace spendgate::core {

namespace {

bool sameMatch(const Match& a, const Match& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](const MatchClause& x, const MatchClause& y) {
                      return x.dimension == y.dimension && x.glob == y.glob;
                    });
}

// The counter key is the name, the subject (from the scope) and the period's start; the match
// decides which requests get one.
bool sameCounters(const BudgetRule& a, const BudgetRule& b) {
  return a.name == b.name && a.scope == b.scope && a.period == b.period &&
         sameMatch(a.match, b.match);
}

}  // namespace

ReloadSeedPlanner::ReloadSeedPlanner(const Rules& rules,
                                     std::chrono::system_clock::time_point reloaded_at,
                                     const std::unordered_set<std::string>& existing,
                                     std::chrono::system_clock::time_point now)
    : planner_(rules, now), reloaded_at_(reloaded_at), existing_(existing) {}

bool ReloadSeedPlanner::mayBringCounters(const Rules& before, const Rules& after) {
  return !std::all_of(after.budgets.begin(), after.budgets.end(), [&](const BudgetRule& rule) {
    return std::any_of(before.budgets.begin(), before.budgets.end(),
                       [&](const BudgetRule& old) { return sameCounters(old, rule); });
  });
}

bool ReloadSeedPlanner::admittedBefore(const LedgerEntry& entry,
                                       std::chrono::system_clock::time_point at) {
  // Admission comes before the upstream call, whose end comes before the settle (`ts`).
  const double upstream_ms = std::isfinite(entry.upstream_ms) && entry.upstream_ms > 0
                                 ? std::min(entry.upstream_ms, 1e12)
                                 : 0.0;
  const auto upstream = std::chrono::duration_cast<std::chrono::system_clock::duration>(
      std::chrono::duration<double, std::milli>(upstream_ms));
  return entry.ts - upstream + kRounding <= at;
}

Reconciliation ReloadSeedPlanner::charges(const LedgerEntry& entry) const {
  if (!admittedBefore(entry, reloaded_at_)) return {};
  Reconciliation out = std::move(planner_.charges(entry).reconciliation);
  // Counters that existed were charged live: they hold every request admitted under the old rules.
  std::erase_if(out.budgets,
                [&](const BudgetCharge& charge) { return existing_.contains(charge.counter_key); });
  out.spend.reset();
  if (out.budgets.empty()) return {};
  return out;
}

}  // namespace spendgate::core
