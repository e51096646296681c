#include "core/alerts/alert.hpp"

#include <algorithm>
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
  // Exact integer arithmetic on the magnitude (unsigned, so INT64_MIN does not overflow).
  const auto magnitude = amount < 0 ? static_cast<std::uint64_t>(-(amount + 1)) + 1
                                    : static_cast<std::uint64_t>(amount);
  constexpr auto kPer = static_cast<std::uint64_t>(kPicodollarsPerUsd);
  // Six significant digits, but never fewer than cents nor more than picodollars: a $0.01 budget
  // shows $0.008465, not $0.01, and $1234567.891 still shows its cents.
  int significant = 0;  // digits of the whole part, or minus the zeros after the point
  if (magnitude >= kPer) {
    for (std::uint64_t whole = magnitude / kPer; whole > 0; whole /= 10) ++significant;
  } else if (magnitude > 0) {
    for (std::uint64_t scale = kPer / 10; magnitude < scale; scale /= 10) --significant;
  }
  const int decimals = std::clamp(6 - significant, 2, 12);
  std::uint64_t unit = 1;  // picodollars per last shown digit
  for (int i = decimals; i < 12; ++i) unit *= 10;
  const std::uint64_t units = magnitude / unit + (magnitude % unit >= (unit + 1) / 2 ? 1 : 0);
  std::uint64_t per_usd = kPer / unit;
  std::string fraction = std::to_string(units % per_usd);
  fraction.insert(0, static_cast<std::size_t>(decimals) - fraction.size(), '0');
  while (fraction.size() > 2 && fraction.back() == '0') fraction.pop_back();
  return std::string(amount < 0 ? "-$" : "$") + std::to_string(units / per_usd) + "." + fraction;
}

std::string percentText(double fraction) {
  std::string text = fixed(static_cast<long double>(fraction) * 100, 1);
  if (text.size() > 2 && text.ends_with(".0")) text.resize(text.size() - 2);
  return text + "%";
}

}  // namespace spendgate::core
