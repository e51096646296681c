#include "core/enforcement/planner.hpp"

#include <algorithm>

#include "core/enforcement/denial_messages.hpp"
#include "core/enforcement/gcra.hpp"
#include "core/enforcement/glob.hpp"

namespace spendgate::core {

namespace {

std::int64_t clampRate(std::uint64_t rate) {
  return static_cast<std::int64_t>(
      std::min<std::uint64_t>(rate, static_cast<std::uint64_t>(gcra::kMaxRatePerMinute)));
}

}  // namespace

bool matches(const Match& match, const RequestAttributes& attributes) {
  return std::all_of(match.begin(), match.end(), [&](const MatchClause& clause) {
    return globMatch(clause.glob, attributeValue(attributes, clause.dimension));
  });
}

std::string escapeKeyPart(std::string_view part) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(part.size());
  for (const char c : part) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '%' || c == ':' || c == '{' || c == '}' || byte < 0x21 || byte == 0x7f) {
      out.push_back('%');
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0x0f]);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string budgetCounterKey(std::string_view name,
                             std::string_view subject,
                             std::chrono::system_clock::time_point period_start) {
  return "budget:" + escapeKeyPart(name) + ":" + escapeKeyPart(subject) + ":" +
         std::to_string(unixSeconds(period_start));
}

std::string rateLimitKey(std::string_view name, std::string_view subject) {
  return "rate:" + escapeKeyPart(name) + ":" + escapeKeyPart(subject);
}

std::string spendCounterKey(Period period, std::chrono::system_clock::time_point now) {
  return "spend:" + std::string(periodName(period)) + ":" +
         std::to_string(unixSeconds(periodWindow(period, now).start));
}

EnforcementPlan plan(const Rules& rules,
                     const RequestAttributes& attributes,
                     Picodollars worst_case_cost,
                     std::int64_t token_estimate,
                     std::chrono::system_clock::time_point now) {
  EnforcementPlan out;
  out.now = now;
  out.worst_case_cost = std::max<Picodollars>(0, worst_case_cost);
  out.token_estimate = gcra::clampUnits(token_estimate);

  if (rules.request_limit.max_cost && out.worst_case_cost > *rules.request_limit.max_cost) {
    out.denial = requestCostDenial(out.worst_case_cost, *rules.request_limit.max_cost);
    return out;
  }

  for (const RateLimitRule& rule : rules.rate_limits) {
    if (rule.requests_per_minute == 0 && rule.tokens_per_minute == 0 && rule.concurrent == 0) {
      continue;
    }
    if (!matches(rule.match, attributes)) continue;
    RateCharge charge;
    charge.subject = counterSubject(rule.scope, attributes);
    charge.key = rateLimitKey(rule.name, charge.subject);
    charge.name = rule.name;
    charge.scope = rule.scope;
    charge.requests_per_minute = clampRate(rule.requests_per_minute);
    charge.tokens_per_minute = clampRate(rule.tokens_per_minute);
    charge.concurrent = clampRate(rule.concurrent);
    charge.tokens = out.token_estimate;
    out.rate_limits.push_back(std::move(charge));
  }

  for (const BudgetRule& rule : rules.budgets) {
    if (!matches(rule.match, attributes)) continue;
    BudgetCharge charge;
    charge.subject = counterSubject(rule.scope, attributes);
    charge.window = periodWindow(rule.period, now);
    charge.counter_key = budgetCounterKey(rule.name, charge.subject, charge.window.start);
    charge.name = rule.name;
    charge.scope = rule.scope;
    charge.period = rule.period;
    charge.limit = std::max<Picodollars>(0, rule.limit);
    charge.amount = out.worst_case_cost;
    charge.mode = rule.mode;
    out.budgets.push_back(std::move(charge));
  }

  if (rules.emergency_stop.auto_stop) {
    const Period period = rules.emergency_stop.auto_stop->period;
    out.spend = SpendCharge{spendCounterKey(period, now), period, periodWindow(period, now)};
  }
  return out;
}

}  // namespace spendgate::core
