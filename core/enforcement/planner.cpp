#include "core/enforcement/planner.hpp"

#include <algorithm>
#include <array>
#include <charconv>

#include "core/enforcement/counter_key_memo.hpp"
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

namespace {

/** '%', ':', '{', '}', bytes below 0x21 and DEL. */
constexpr std::array<bool, 256> kKeyEscape = [] {
  std::array<bool, 256> table{};
  for (int byte = 0; byte < 0x21; ++byte) table[byte] = true;
  for (const char c : {'%', ':', '{', '}', '\x7f'}) table[static_cast<unsigned char>(c)] = true;
  return table;
}();

bool needsKeyEscape(char c) { return kKeyEscape[static_cast<unsigned char>(c)]; }

void appendDecimal(std::string& out, std::int64_t value) {
  char buffer[24];
  const auto end = std::to_chars(buffer, buffer + sizeof buffer, value).ptr;
  out.append(buffer, end);
}

}  // namespace

void appendEscapedKeyPart(std::string& out, std::string_view part) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::size_t clean = 0;  // start of the run that needs no escaping
  for (std::size_t i = 0; i < part.size(); ++i) {
    if (!needsKeyEscape(part[i])) continue;
    const auto byte = static_cast<unsigned char>(part[i]);
    out.append(part.data() + clean, i - clean);
    const char escaped[3] = {'%', kHex[byte >> 4], kHex[byte & 0x0f]};
    out.append(escaped, 3);
    clean = i + 1;
  }
  out.append(part.data() + clean, part.size() - clean);
}

std::string escapeKeyPart(std::string_view part) {
  std::string out;
  out.reserve(part.size());
  appendEscapedKeyPart(out, part);
  return out;
}

// The keys are built once per request and rule: one allocation each, no temporaries.

std::string budgetCounterKey(std::string_view name,
                             std::string_view subject,
                             std::chrono::system_clock::time_point period_start) {
  std::string out;
  out.reserve(7 + name.size() + 1 + subject.size() + 1 + 20);
  out.append("budget:");
  appendEscapedKeyPart(out, name);
  out.push_back(':');
  appendEscapedKeyPart(out, subject);
  out.push_back(':');
  appendDecimal(out, unixSeconds(period_start));
  return out;
}

std::string rateLimitKey(std::string_view name, std::string_view subject) {
  std::string out;
  out.reserve(5 + name.size() + 1 + subject.size());
  out.append("rate:");
  appendEscapedKeyPart(out, name);
  out.push_back(':');
  appendEscapedKeyPart(out, subject);
  return out;
}

std::string spendCounterKey(Period period, std::chrono::system_clock::time_point now) {
  const std::string_view name = periodName(period);
  std::string out;
  out.reserve(6 + name.size() + 1 + 20);
  out.append("spend:");
  out.append(name);
  out.push_back(':');
  appendDecimal(out, unixSeconds(periodWindow(period, now).start));
  return out;
}

namespace {

/** counterSubject() without a string of its own: a view of the attribute, or a literal. */
std::string_view subjectOf(Scope scope, const RequestAttributes& attributes) {
  const auto dimension = scopeDimension(scope);
  if (!dimension) return {};
  const std::string& value = attributeValue(attributes, *dimension);
  return value.empty() ? kMissingSubject : std::string_view(value);
}

/** The element at `used` (made if the vector is shorter), then `used` moves on. */
template <class T>
T& nextSlot(std::vector<T>& list, std::size_t& used) {
  if (used == list.size()) list.emplace_back();
  return list[used++];
}

}  // namespace

EnforcementPlan plan(const Rules& rules,
                     const RequestAttributes& attributes,
                     Picodollars worst_case_cost,
                     std::int64_t token_estimate,
                     std::chrono::system_clock::time_point now,
                     Spending spending,
                     OutputCap output_cap,
                     CounterKeyMemo* keys) {
  EnforcementPlan out;
  planInto(out, rules, attributes, worst_case_cost, token_estimate, now, spending, output_cap,
           keys);
  return out;
}

void planInto(EnforcementPlan& out,
              const Rules& rules,
              const RequestAttributes& attributes,
              Picodollars worst_case_cost,
              std::int64_t token_estimate,
              std::chrono::system_clock::time_point now,
              Spending spending,
              OutputCap output_cap,
              CounterKeyMemo* keys) {
  out.now = now;
  out.worst_case_cost = std::max<Picodollars>(0, worst_case_cost);
  out.token_estimate = gcra::clampUnits(token_estimate);
  out.output_cap = output_cap;
  out.denial.reset();
  out.spend.reset();
  // Every element below is assigned in full: what a previous plan left in it is overwritten.
  std::size_t rates = 0;
  std::size_t budgets = 0;

  if (rules.request_limit.max_cost && out.worst_case_cost > *rules.request_limit.max_cost) {
    out.denial = requestCostDenial(out.worst_case_cost, *rules.request_limit.max_cost, output_cap);
    out.rate_limits.clear();
    out.budgets.clear();
    return;
  }

  for (std::size_t i = 0; i < rules.rate_limits.size(); ++i) {
    const RateLimitRule& rule = rules.rate_limits[i];
    if (rule.requests_per_minute == 0 && rule.tokens_per_minute == 0 && rule.concurrent == 0) {
      continue;
    }
    if (!matches(rule.match, attributes)) continue;
    RateCharge& charge = nextSlot(out.rate_limits, rates);
    charge.subject.assign(subjectOf(rule.scope, attributes));
    if (keys != nullptr) {
      charge.key.assign(keys->rateLimitKey(i, rule.name, charge.subject));
    } else {
      charge.key = rateLimitKey(rule.name, charge.subject);
    }
    charge.name.assign(rule.name);
    charge.scope = rule.scope;
    charge.requests_per_minute = clampRate(rule.requests_per_minute);
    charge.tokens_per_minute = clampRate(rule.tokens_per_minute);
    charge.concurrent = clampRate(rule.concurrent);
    charge.tokens = out.token_estimate;
  }
  out.rate_limits.resize(rates);

  // A free request (count_tokens...) can never spend, so it neither reserves nor is refused by
  // a spent budget.
  for (std::size_t i = 0; spending != Spending::Free && i < rules.budgets.size(); ++i) {
    const BudgetRule& rule = rules.budgets[i];
    if (!matches(rule.match, attributes)) continue;
    BudgetCharge& charge = nextSlot(out.budgets, budgets);
    charge.subject.assign(subjectOf(rule.scope, attributes));
    charge.window = periodWindow(rule.period, now);
    if (keys != nullptr) {
      charge.counter_key.assign(
          keys->budgetCounterKey(i, rule.name, charge.subject, charge.window.start));
    } else {
      charge.counter_key = budgetCounterKey(rule.name, charge.subject, charge.window.start);
    }
    charge.name.assign(rule.name);
    charge.scope = rule.scope;
    charge.period = rule.period;
    charge.limit = std::max<Picodollars>(0, rule.limit);
    charge.unpriced = spending == Spending::Unpriced;
    charge.amount = charge.unpriced ? kUnpricedAmount : out.worst_case_cost;
    charge.mode = rule.mode;
  }
  out.budgets.resize(budgets);

  if (rules.emergency_stop.auto_stop) {
    const Period period = rules.emergency_stop.auto_stop->period;
    out.spend = SpendCharge{spendCounterKey(period, now), period, periodWindow(period, now)};
  }
}

}  // namespace spendgate::core
