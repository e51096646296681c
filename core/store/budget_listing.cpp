#include "core/store/budget_listing.hpp"

#include <algorithm>
#include <tuple>

#include "core/enforcement/glob.hpp"
#include "core/enforcement/planner.hpp"

namespace spendgate::core {

namespace {

const BudgetRule* ruleOf(const std::vector<BudgetRule>& rules, const BudgetSnapshot& counter) {
  for (const BudgetRule& rule : rules) {
    if (rule.name == counter.name && rule.scope == counter.scope && rule.period == counter.period)
      return &rule;
  }
  return nullptr;
}

}  // namespace

std::optional<std::string> configuredSubject(const BudgetRule& rule) {
  const auto dimension = scopeDimension(rule.scope);
  if (!dimension) return std::string();
  const MatchClause* literal = nullptr;
  for (const MatchClause& clause : rule.match) {
    if (clause.dimension == *dimension && globIsLiteral(clause.glob)) {
      literal = &clause;
      break;
    }
  }
  if (!literal) return std::nullopt;
  // Every clause on this dimension must accept the literal, or no request fits them all.
  for (const MatchClause& clause : rule.match) {
    if (clause.dimension == *dimension && !globMatch(clause.glob, literal->glob))
      return std::nullopt;
  }
  if (literal->glob.empty()) return std::string(kMissingSubject);
  return literal->glob;
}

std::vector<BudgetSnapshot> listBudgets(const std::vector<BudgetRule>& rules,
                                        std::vector<BudgetSnapshot> counters,
                                        std::chrono::system_clock::time_point now) {
  std::vector<BudgetSnapshot> rows;
  rows.reserve(counters.size() + rules.size());
  for (BudgetSnapshot& counter : counters) {
    const BudgetRule* rule = ruleOf(rules, counter);
    if (!rule) continue;  // removed (or changed) by a reload: not a budget any more
    counter.limit = std::max<Picodollars>(0, rule->limit);
    counter.mode = rule->mode;
    rows.push_back(std::move(counter));
  }
  const std::size_t counted = rows.size();
  for (const BudgetRule& rule : rules) {
    auto subject = configuredSubject(rule);
    if (!subject) continue;
    const bool has_counter = std::any_of(rows.begin(), rows.begin() + counted, [&](const auto& r) {
      return r.name == rule.name && r.subject == *subject;
    });
    if (has_counter) continue;
    // Nothing charged yet this period: a zero row, named as the planner would name its counter.
    BudgetSnapshot row;
    row.name = rule.name;
    row.scope = rule.scope;
    row.subject = std::move(*subject);
    row.period = rule.period;
    row.window = periodWindow(rule.period, now);
    row.counter_key = budgetCounterKey(row.name, row.subject, row.window.start);
    row.limit = std::max<Picodollars>(0, rule.limit);
    row.mode = rule.mode;
    rows.push_back(std::move(row));
  }
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    return std::tie(a.name, a.subject) < std::tie(b.name, b.subject);
  });
  return rows;
}

}  // namespace spendgate::core
