#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/enforcement/period.hpp"
#include "core/enforcement/scope.hpp"
#include "core/pricing/money.hpp"

// Core-side enforcement rules (SPEC §2 budgets, rate_limits, request_limits, emergency_stop).
// The proxy maps config::Config onto these once per (re)load; core never sees YAML.
namespace spendgate::core {

/** One `match:` filter: the request's `dimension` must fit `glob` (see globMatch). */
struct MatchClause {
  Dimension dimension = Dimension::Model;
  std::string glob;
};

/** All clauses must fit; an empty list matches every request. */
using Match = std::vector<MatchClause>;

/** hard: never exceeded, reserved before forwarding. soft: counted and alerted on only. */
enum class BudgetMode { Hard, Soft };

/** @return "hard" or "soft". */
std::string_view budgetModeName(BudgetMode mode);

/** @return the mode spelled `name`, or nullopt. */
std::optional<BudgetMode> budgetModeFromName(std::string_view name);

struct BudgetRule {
  std::string name;
  Scope scope = Scope::Global;
  Match match;
  Period period = Period::Day;
  Picodollars limit = 0;
  BudgetMode mode = BudgetMode::Hard;
  std::vector<double> alert_at;  // fractions of limit, for the alerting code; unused here
};

/** A zero limit means "not limited" for that dimension. */
struct RateLimitRule {
  std::string name;
  Scope scope = Scope::Global;
  Match match;
  std::uint64_t requests_per_minute = 0;
  std::uint64_t tokens_per_minute = 0;  // input + output tokens
  std::uint64_t concurrent = 0;         // requests in flight
};

struct RequestLimit {
  std::optional<Picodollars> max_cost;  // worst-case cost of one request
};

struct EmergencyStopRule {
  /** `auto:` trips the stop when global spend in the current `period` reaches `spend`. */
  struct Auto {
    Picodollars spend = 0;
    Period period = Period::Day;
    std::chrono::milliseconds hold{3600000};  // 0 = stays on until turned off by hand
  };
  std::optional<Auto> auto_stop;
};

/** Everything enforcement needs from the config, in config order (denials name the first). */
struct Rules {
  std::vector<BudgetRule> budgets;
  std::vector<RateLimitRule> rate_limits;
  RequestLimit request_limit;
  EmergencyStopRule emergency_stop;
};

/**
 * Converts a config amount in USD (`limit_usd`, `max_cost_usd`, `spend_usd`) to picodollars,
 * rounded to the nearest picodollar.
 * @return nullopt for NaN, negative values or more than int64 picodollars (~9.2 million USD).
 */
std::optional<Picodollars> picodollarsFromUsd(double usd);

}  // namespace spendgate::core
