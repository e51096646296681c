#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "core/pricing/money.hpp"

// What the alerting code produces (docs/alerts.md). Pure values: core/alerts/ decides WHAT to
// say and WHEN; proxy/alerts/ sends it.
namespace spendgate::core {

/** Severity, lowest first; the same four as config::AlertLevel (YAML `min_level`). */
enum class AlertLevel { Info, Warning, Critical, Exceeded };

enum class AlertKind {
  BudgetThreshold,       // spent crossed one of the budget's alert_at fractions
  BudgetProjection,      // linear projection to the period end passes the limit
  SpendRate,             // last hour's spend far above the trailing 24 h average
  EmergencyStopTripped,  // the emergency stop turned on (manual or auto)
  EmergencyStopCleared,  // the emergency stop turned off
};

/** One alert instance. `id` is stable: every instance of the proxy computes the same id for it. */
struct Alert {
  std::string id;
  AlertLevel level = AlertLevel::Info;
  AlertKind kind = AlertKind::BudgetThreshold;
  std::string title;    // one line, no trailing period
  std::string message;  // human text, USD amounts included
  std::string budget;   // "" for emergency stop alerts
  std::string subject;  // budget counter subject ("" for global budgets)
  std::chrono::system_clock::time_point created_at;
  boost::json::object details;  // machine-readable numbers (see docs/alerts.md)
};

/** @return "info", "warning", "critical" or "exceeded" (the YAML spelling). */
std::string_view alertLevelName(AlertLevel level);

/** @return the level spelled `name`, or nullopt. */
std::optional<AlertLevel> alertLevelFromName(std::string_view name);

/** @return "budget_threshold", "budget_projection", "spend_rate", "emergency_stop_on" or
 * "emergency_stop_off". */
std::string_view alertKindName(AlertKind kind);

/**
 * Level of a budget threshold alert, from the alert_at fraction it crossed:
 * < 0.8 info, [0.8, 0.95) warning, [0.95, 1.0) critical, >= 1.0 exceeded.
 */
AlertLevel thresholdLevel(double fraction);

/**
 * @return {"id","level","kind","title","message","budget","subject","created_at","details"};
 * created_at in RFC 3339 UTC.
 */
boost::json::object alertToJson(const Alert& alert);

/**
 * @return the amount with six significant digits, at least cents and at most picodollars,
 * rounded half away from zero, trailing zeros past the cents trimmed: "$412.50", "$0.125",
 * "$0.008465", "$12.3457", "$1234567.89", "$0.00".
 */
std::string usdText(Picodollars amount);

/** @return a fraction as a percentage without trailing zeros: 0.8 -> "80%", 0.955 -> "95.5%". */
std::string percentText(double fraction);

}  // namespace spendgate::core
