#include "core/enforcement/period.hpp"

#include <array>

namespace spendgate::core {

namespace {

using std::chrono::days;
using std::chrono::floor;
using std::chrono::sys_days;
using std::chrono::system_clock;

constexpr std::array<std::string_view, 6> kPeriodNames = {"minute", "hour",  "day",
                                                          "week",   "month", "total"};

system_clock::time_point at(sys_days day) { return system_clock::time_point(day); }

}  // namespace

system_clock::time_point totalPeriodEnd() {
  return at(sys_days(std::chrono::year{2200} / std::chrono::January / 1));
}

PeriodWindow periodWindow(Period period, system_clock::time_point now) {
  switch (period) {
    case Period::Minute: {
      const auto start = floor<std::chrono::minutes>(now);
      return {start, start + std::chrono::minutes{1}};
    }
    case Period::Hour: {
      const auto start = floor<std::chrono::hours>(now);
      return {start, start + std::chrono::hours{1}};
    }
    case Period::Day: {
      const auto start = floor<days>(now);
      return {start, start + days{1}};
    }
    case Period::Week: {
      // ISO weeks start on Monday; weekday 0 is Sunday, so Monday is 1 days in.
      const sys_days today = floor<days>(now);
      const std::chrono::weekday wd{today};
      const sys_days monday = today - (wd - std::chrono::Monday);
      return {at(monday), at(monday + days{7})};
    }
    case Period::Month: {
      const std::chrono::year_month_day ymd{floor<days>(now)};
      const auto first = ymd.year() / ymd.month() / 1;
      const auto next = first + std::chrono::months{1};  // rolls December into January
      return {at(sys_days(first)), at(sys_days(next))};
    }
    case Period::Total:
      return {system_clock::time_point{}, totalPeriodEnd()};
  }
  return {system_clock::time_point{}, totalPeriodEnd()};
}

std::string_view periodName(Period period) {
  return kPeriodNames[static_cast<std::size_t>(period)];
}

std::optional<Period> periodFromName(std::string_view name) {
  for (std::size_t i = 0; i < kPeriodNames.size(); ++i) {
    if (kPeriodNames[i] == name) return static_cast<Period>(i);
  }
  return std::nullopt;
}

std::int64_t unixSeconds(system_clock::time_point time) {
  return floor<std::chrono::seconds>(time).time_since_epoch().count();
}

std::int64_t unixMillis(system_clock::time_point time) {
  return floor<std::chrono::milliseconds>(time).time_since_epoch().count();
}

system_clock::time_point fromUnixMillis(std::int64_t millis) {
  return system_clock::time_point(std::chrono::milliseconds{millis});
}

}  // namespace spendgate::core
