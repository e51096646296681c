#pragma once

#include "config/config.hpp"
#include "core/enforcement/rules.hpp"

namespace spendgate::config {

/**
 * Maps the validated budgets, rate_limits, request_limits and emergency_stop sections onto the
 * core rule types (USD → picodollars, names → enums). The loader has already rejected anything
 * out of range, so this cannot fail.
 */
core::Rules toEnforcementRules(const Config& config);

}  // namespace spendgate::config
