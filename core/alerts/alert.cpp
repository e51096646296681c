#include "core/alerts/alert.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>

#include "core/ledger/ledger_entry.hpp"

namespace spendgate::core {

std::string_view alertLevelName(AlertLevel level) {
  switch (level) {
    case AlertLevel::Info:
      return "info";
    case AlertLevel::Warning:
      return "warning";
    case AlertLevel::Critical:
      return "critical";
    case AlertLevel::Exceeded:
      return "exceeded";
  }
  return "info";
}

std::optional<AlertLevel> alertLevelFromName(std::string_view name) {
  for (auto level :
       {AlertLevel::Info, AlertLevel::Warning, AlertLevel::Critical, AlertLevel::Exceeded}) {
    if (alertLevelName(level) == name) return level;
  }
  return std::nullopt;
}

std::string_view alertKindName(AlertKind kind) {
  switch (kind) {
    case AlertKind::BudgetThreshold:
      return "budget_threshold";
    case AlertKind::BudgetProjection:
      return "budget_projection";
    case AlertKind::SpendRate:
      return "spend_rate";
    case AlertKind::EmergencyStopTripped:
      return "emergency_stop_on";
    case AlertKind::EmergencyStopCleared:
      return "emergency_stop_off";
  }
  return "budget_threshold";
}

AlertLevel thresholdLevel(double fraction) {
  if (fraction >= 1.0) return AlertLevel::Exceeded;
  if (fraction >= 0.95) return AlertLevel::Critical;
  if (fraction >= 0.8) return AlertLevel::Warning;
  return AlertLevel::Info;
}

boost::json::object alertToJson(const Alert& alert) {
  boost::json::object out;
  out["id"] = alert.id;
  out["level"] = alertLevelName(alert.level);
  out["kind"] = alertKindName(alert.kind);
  out["title"] = alert.title;
  out["message"] = alert.message;
  out["budget"] = alert.budget;
  out["subject"] = alert.subject;
  out["created_at"] = formatRfc3339(alert.created_at);
  out["details"] = alert.details;
  return out;
}

namespace {

// Fixed decimals without printf (core does no I/O, not even through <cstdio>).
std::string fixed(long double value, int decimals) {
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, static_cast<double>(value),
                                 std::chars_format::fixed, decimals);
  if (ec != std::errc{}) return "?";
  return std::string(buffer, end);
}

}  // namespace

std::string usdText(Picodollars amount) {
  const long double usd = static_cast<long double>(amount) / kPicodollarsPerUsd;
  const long double magnitude = usd < 0 ? -usd : usd;
  if (magnitude != 0 && magnitude < 0.005L) return "$" + fixed(usd, 4);
  // Round half away from zero to whole cents, then print exactly.
  const auto cents = static_cast<std::int64_t>(std::llround(static_cast<double>(usd * 100)));
  const auto abs_cents = cents < 0 ? -cents : cents;
  std::string fraction = std::to_string(abs_cents % 100);
  if (fraction.size() < 2) fraction.insert(0, "0");
  return std::string(cents < 0 ? "-$" : "$") + std::to_string(abs_cents / 100) + "." + fraction;
}

std::string percentText(double fraction) {
  std::string text = fixed(static_cast<long double>(fraction) * 100, 1);
  if (text.size() > 2 && text.ends_with(".0")) text.resize(text.size() - 2);
  return text + "%";
}

}  // namespace spendgate::core
