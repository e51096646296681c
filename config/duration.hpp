#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace spendgate::config {

using Millis = std::chrono::milliseconds;

/**
 * Parses a config duration: a non-negative integer count followed by one unit, `ms`, `s`, `m`,
 * `h` or `d` (`250ms`, `30s`, `5m`, `1h`, `7d`). No sign, no spaces, no fractions, no compound
 * forms such as `1h30m`.
 * @return the duration, or nullopt when the text is not a valid duration or overflows.
 */
std::optional<Millis> parseDuration(std::string_view text);

/**
 * @return the shortest exact spelling parseDuration accepts back: `1h`, `90s`, `250ms`, `0s`.
 */
std::string formatDuration(Millis duration);

}  // namespace spendgate::config
