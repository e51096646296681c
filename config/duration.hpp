#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace spendgate::config {

using Millis = std::chrono::milliseconds;

/**
 * The longest duration accepted: 36500d (100 years). Durations are added to the current time
 * (an emergency stop's `until` = now + `for` or + `hold`, a reservation's expiry = now +
 * `request_timeout` + a margin), and `std::chrono::system_clock` counts nanoseconds in 64 bits,
 * so it ends in 2262: a longer duration would wrap the sum into the past (a stop "until 1716",
 * off at once). 100 years keeps now + two of them far inside the clock.
 */
inline constexpr Millis kMaxDuration{36'500LL * 86'400'000LL};

/**
 * Parses a config duration: a non-negative integer count followed by one unit, `ms`, `s`, `m`,
 * `h` or `d` (`250ms`, `30s`, `5m`, `1h`, `7d`), at most kMaxDuration. No sign, no spaces, no
 * fractions, no compound forms such as `1h30m`.
 * @return the duration, or nullopt when the text is not a valid duration or is longer than
 * kMaxDuration.
 */
std::optional<Millis> parseDuration(std::string_view text);

/**
 * @return the shortest exact spelling parseDuration accepts back: `1h`, `90s`, `250ms`, `0s`.
 */
std::string formatDuration(Millis duration);

}  // namespace spendgate::config
