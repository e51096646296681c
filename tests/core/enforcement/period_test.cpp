#include "core/enforcement/period.hpp"

#include <gtest/gtest.h>

#include "tests/core/manual_clock.hpp"

namespace spendgate::core {
namespace {

using testing::utc;
using namespace std::chrono_literals;

void expectWindow(Period period,
                  std::chrono::system_clock::time_point now,
                  std::chrono::system_clock::time_point start,
                  std::chrono::system_clock::time_point end) {
  const PeriodWindow w = periodWindow(period, now);
  EXPECT_EQ(w.start, start) << periodName(period);
  EXPECT_EQ(w.end, end) << periodName(period);
}

TEST(PeriodWindow, MinuteAndHourEdges) {
  expectWindow(Period::Minute, utc(2026, 3, 4, 10, 7, 59, 999), utc(2026, 3, 4, 10, 7),
               utc(2026, 3, 4, 10, 8));
  expectWindow(Period::Minute, utc(2026, 3, 4, 10, 8), utc(2026, 3, 4, 10, 8),
               utc(2026, 3, 4, 10, 9));
  expectWindow(Period::Hour, utc(2026, 3, 4, 23, 59, 59), utc(2026, 3, 4, 23), utc(2026, 3, 5, 0));
}

TEST(PeriodWindow, DayAtMidnightUtc) {
  // The last millisecond of a day belongs to it; midnight starts the next one.
  expectWindow(Period::Day, utc(2026, 3, 4, 23, 59, 59, 999), utc(2026, 3, 4), utc(2026, 3, 5));
  expectWindow(Period::Day, utc(2026, 3, 5), utc(2026, 3, 5), utc(2026, 3, 6));
}

TEST(PeriodWindow, IsoWeekStartsMonday) {
  // 2026-03-02 is a Monday, 2026-03-08 a Sunday.
  expectWindow(Period::Week, utc(2026, 3, 2), utc(2026, 3, 2), utc(2026, 3, 9));
  expectWindow(Period::Week, utc(2026, 3, 8, 23, 59, 59), utc(2026, 3, 2), utc(2026, 3, 9));
  expectWindow(Period::Week, utc(2026, 3, 9), utc(2026, 3, 9), utc(2026, 3, 16));
  // Thursday 1970-01-01 (the epoch itself) is in the week of Monday 1969-12-29.
  expectWindow(Period::Week, utc(1970, 1, 1, 12), utc(1969, 12, 29), utc(1970, 1, 5));
  // A week across a year end: Mon 2025-12-29 .. Mon 2026-01-05.
  expectWindow(Period::Week, utc(2026, 1, 1), utc(2025, 12, 29), utc(2026, 1, 5));
}

TEST(PeriodWindow, MonthEnds) {
  expectWindow(Period::Month, utc(2026, 1, 31, 23, 59, 59), utc(2026, 1, 1), utc(2026, 2, 1));
  expectWindow(Period::Month, utc(2026, 2, 1), utc(2026, 2, 1), utc(2026, 3, 1));
  // Leap year: February has 29 days.
  expectWindow(Period::Month, utc(2024, 2, 29, 23, 59, 59), utc(2024, 2, 1), utc(2024, 3, 1));
  expectWindow(Period::Month, utc(2024, 3, 1), utc(2024, 3, 1), utc(2024, 4, 1));
  // Year end.
  expectWindow(Period::Month, utc(2025, 12, 31, 23, 59, 59, 999), utc(2025, 12, 1),
               utc(2026, 1, 1));
  expectWindow(Period::Month, utc(2026, 1, 1), utc(2026, 1, 1), utc(2026, 2, 1));
}

TEST(PeriodWindow, DayInLeapYear) {
  expectWindow(Period::Day, utc(2024, 2, 29, 12), utc(2024, 2, 29), utc(2024, 3, 1));
  expectWindow(Period::Day, utc(2025, 12, 31, 23, 59, 59), utc(2025, 12, 31), utc(2026, 1, 1));
}

TEST(PeriodWindow, TotalIsEverything) {
  const PeriodWindow w = periodWindow(Period::Total, utc(2026, 7, 1));
  EXPECT_EQ(w.start, std::chrono::system_clock::time_point{});
  EXPECT_EQ(w.end, utc(2200, 1, 1));
  EXPECT_EQ(w.end, totalPeriodEnd());
}

TEST(PeriodWindow, NamesRoundTrip) {
  for (Period p :
       {Period::Minute, Period::Hour, Period::Day, Period::Week, Period::Month, Period::Total}) {
    EXPECT_EQ(periodFromName(periodName(p)), p);
  }
  EXPECT_EQ(periodFromName("fortnight"), std::nullopt);
}

TEST(PeriodWindow, UnixHelpers) {
  EXPECT_EQ(unixSeconds(utc(1970, 1, 2)), 86400);
  EXPECT_EQ(unixMillis(utc(1970, 1, 1, 0, 0, 1, 5)), 1005);
  EXPECT_EQ(fromUnixMillis(1005), utc(1970, 1, 1, 0, 0, 1, 5));
}

}  // namespace
}  // namespace spendgate::core
