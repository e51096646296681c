#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace spendgate::config {

/** @return true for a POSIX-portable variable name: [A-Za-z_][A-Za-z0-9_]*. */
bool isValidEnvName(std::string_view name);

/**
 * Checks the value of a `*_env` key, which must name an environment variable, never hold a
 * secret or URL itself.
 * @return nullopt when fine, else a message that never repeats a secret-looking value in full.
 */
std::optional<std::string> checkEnvName(std::string_view name);

}  // namespace spendgate::config
