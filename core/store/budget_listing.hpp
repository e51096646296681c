#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/enforcement/rules.hpp"
#include "core/store/counter_store_types.hpp"

// The budget list that GET /admin/budgets, `spendgate budgets` and the spendgate_budget_*
// metrics show: the budgets in force, not only the counters some request created.
namespace spendgate::core {

/**
 * The counter subject every request charging `rule` has, when the config alone fixes it: ""
 * for `scope: global`; for another scope, the literal (no `*` or `?`) that a `match` clause on
 * the scope's own dimension requires (`scope: key, match: {key: k2}` -> "k2"; an empty literal
 * -> kMissingSubject, as counterSubject gives). nullopt when the subject depends on the request,
 * or when the clauses on that dimension cannot all hold at once (no request ever charges it).
 */
std::optional<std::string> configuredSubject(const BudgetRule& rule);

/**
 * @param rules the budgets in force (config order)
 * @param counters the store's counters of the current periods (CounterStore::budgets)
 * @return the counters of budgets in force (same name, scope and period), with the rule's
 *         limit and mode (a reload may have changed them since the counter was last charged),
 *         plus a zero row for every budget whose subject configuredSubject() knows and that has
 *         no counter yet, in the current period's window. A counter whose budget was removed or
 *         changed scope or period is left out. Sorted by name, then subject.
 */
std::vector<BudgetSnapshot> listBudgets(const std::vector<BudgetRule>& rules,
                                        std::vector<BudgetSnapshot> counters,
                                        std::chrono::system_clock::time_point now);

}  // namespace spendgate::core
