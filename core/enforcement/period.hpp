#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace spendgate::core {

/** Calendar period (UTC) of a budget or of the emergency-stop auto trigger. */
enum class Period { Minute, Hour, Day, Week, Month, Total };

/** A half-open interval [start, end) of wall-clock time. */
struct PeriodWindow {
  std::chrono::system_clock::time_point start;
  std::chrono::system_clock::time_point end;

  friend bool operator==(const PeriodWindow&, const PeriodWindow&) = default;
};

/**
 * @return the calendar window (UTC) of `period` that contains `now`: minute, hour, day, ISO week
 * (Monday 00:00), month, or for Total the whole range [1970-01-01, kTotalPeriodEnd).
 * Pure arithmetic on civil days: no timezone database, leap years handled, no leap seconds
 * (system_clock has none).
 */
PeriodWindow periodWindow(Period period, std::chrono::system_clock::time_point now);

/** End of the `total` period: 2200-01-01T00:00:00Z, far enough and still inside system_clock. */
std::chrono::system_clock::time_point totalPeriodEnd();

/** @return the YAML spelling ("minute", ..., "total"). */
std::string_view periodName(Period period);

/** @return the period spelled `name`, or nullopt. */
std::optional<Period> periodFromName(std::string_view name);

/** @return whole seconds since the Unix epoch (floored), as used in counter keys. */
std::int64_t unixSeconds(std::chrono::system_clock::time_point time);

/** @return whole milliseconds since the Unix epoch (floored), the store's time unit. */
std::int64_t unixMillis(std::chrono::system_clock::time_point time);

/** @return the time point `millis` after the Unix epoch. */
std::chrono::system_clock::time_point fromUnixMillis(std::int64_t millis);

}  // namespace spendgate::core
