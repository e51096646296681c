#include "core/enforcement/rules.hpp"

#include <cmath>

namespace spendgate::core {

std::string_view budgetModeName(BudgetMode mode) {
  return mode == BudgetMode::Hard ? "hard" : "soft";
}

std::optional<BudgetMode> budgetModeFromName(std::string_view name) {
  if (name == "hard") return BudgetMode::Hard;
  if (name == "soft") return BudgetMode::Soft;
  return std::nullopt;
}

std::optional<Picodollars> picodollarsFromUsd(double usd) {
  // 9.2e6 USD is just below INT64_MAX picodollars; the double product is exact enough there.
  if (!std::isfinite(usd) || usd < 0 || usd > 9.2e6) return std::nullopt;
  return static_cast<Picodollars>(std::llround(usd * static_cast<double>(kPicodollarsPerUsd)));
}

}  // namespace spendgate::core
