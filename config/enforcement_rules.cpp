#include "config/enforcement_rules.hpp"

namespace spendgate::config {

namespace {

core::Picodollars money(double usd) { return core::picodollarsFromUsd(usd).value_or(0); }

core::Scope toScope(Scope scope) {
  return core::scopeFromName(scopeName(scope)).value_or(core::Scope::Global);
}

core::Period toPeriod(Period period) {
  return core::periodFromName(periodName(period)).value_or(core::Period::Day);
}

core::Match toMatch(const std::map<std::string, std::string>& match) {
  core::Match clauses;
  for (const auto& [dimension, glob] : match) {
    if (auto parsed = core::dimensionFromName(dimension)) clauses.push_back({*parsed, glob});
  }
  return clauses;
}

}  // namespace

core::Rules toEnforcementRules(const Config& config) {
  core::Rules rules;
  for (const auto& budget : config.budgets) {
    rules.budgets.push_back(
        {budget.name, toScope(budget.scope), toMatch(budget.match), toPeriod(budget.period),
         money(budget.limit_usd),
         budget.mode == BudgetConfig::Mode::Hard ? core::BudgetMode::Hard : core::BudgetMode::Soft,
         budget.alert_at});
  }
  for (const auto& limit : config.rate_limits) {
    rules.rate_limits.push_back({limit.name, toScope(limit.scope), toMatch(limit.match),
                                 limit.requests_per_minute, limit.tokens_per_minute,
                                 limit.concurrent});
  }
  if (config.request_limits.max_cost_usd) {
    rules.request_limit.max_cost = money(*config.request_limits.max_cost_usd);
  }
  if (const auto& stop = config.emergency_stop.auto_stop) {
    rules.emergency_stop.auto_stop =
        core::EmergencyStopRule::Auto{money(stop->spend_usd), toPeriod(stop->period), stop->hold};
  }
  return rules;
}

}  // namespace spendgate::config
