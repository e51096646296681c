#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/enforcement/denial.hpp"
#include "core/enforcement/period.hpp"
#include "core/enforcement/rules.hpp"
#include "core/enforcement/scope.hpp"
#include "core/pricing/money.hpp"

namespace spendgate::core {

/** One budget counter a request charges: `counter_key` is stable across instances. */
struct BudgetCharge {
  std::string counter_key;  // "budget:<name>:<subject>:<period start, unix seconds>"
  std::string name;
  Scope scope = Scope::Global;
  std::string subject;  // "" global, "-" when the request lacks the scope's attribute
  Period period = Period::Day;
  PeriodWindow window;
  Picodollars limit = 0;
  Picodollars amount = 0;  // the request's worst-case cost, reserved on hard budgets
  BudgetMode mode = BudgetMode::Hard;
  /** A paid endpoint spendgate cannot price: `amount` is kUnpricedAmount, refused only when used
   * up. */
  bool unpriced = false;
};

/**
 * What an unpriced paid request (images, audio...) reserves on a hard budget: the smallest amount
 * there is, so that it passes while anything is left and is refused once spent plus reserved
 * reaches the limit. Settled at 0.
 */
inline constexpr Picodollars kUnpricedAmount = 1;

/** One rate-limit counter a request charges; a 0 limit is not checked. */
struct RateCharge {
  std::string key;  // "rate:<name>:<subject>"
  std::string name;
  Scope scope = Scope::Global;
  std::string subject;
  std::int64_t requests_per_minute = 0;
  std::int64_t tokens_per_minute = 0;
  std::int64_t concurrent = 0;
  std::int64_t tokens = 0;  // the request's token estimate, taken from tokens_per_minute
};

/** The global spend counter of the emergency stop's auto period, added to on settle. */
struct SpendCharge {
  std::string key;  // "spend:<period>:<period start, unix seconds>"
  Period period = Period::Day;
  PeriodWindow window;
};

/**
 * Everything the counter store must do for one request, computed by plan() from the rules and
 * the request; the store only does arithmetic on it. Lists are in config order.
 */
/** The body field that caps a request's output, for advice in a denial. */
struct OutputCap {
  std::string_view field;  // as the caller's format/endpoint spells it (a literal); empty: none
  bool set = true;         // false: the model's maximum output was assumed
};

struct EnforcementPlan {
  std::chrono::system_clock::time_point now;
  Picodollars worst_case_cost = 0;
  std::int64_t token_estimate = 0;
  /** Set when the per-request limit refuses the request; then the lists are empty. */
  std::optional<Denial> denial;
  std::vector<RateCharge> rate_limits;
  std::vector<BudgetCharge> budgets;
  std::optional<SpendCharge> spend;
  /** What caps the request's output, so a rate-limit denial can name the caller's own field. */
  OutputCap output_cap;

  /** @return true when the store has nothing to check or count (admit may be skipped). */
  bool empty() const { return rate_limits.empty() && budgets.empty() && !spend; }
};

}  // namespace spendgate::core
