#include "config/duration.hpp"

#include <gtest/gtest.h>

namespace spendgate::config {
namespace {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

TEST(ParseDuration, AcceptsEveryUnit) {
  EXPECT_EQ(parseDuration("250ms"), Millis(250));
  EXPECT_EQ(parseDuration("30s"), Millis(seconds(30)));
  EXPECT_EQ(parseDuration("5m"), Millis(minutes(5)));
  EXPECT_EQ(parseDuration("1h"), Millis(hours(1)));
  EXPECT_EQ(parseDuration("7d"), Millis(days(7)));
  EXPECT_EQ(parseDuration("0s"), Millis(0));
  EXPECT_EQ(parseDuration("600s"), Millis(600000));
}

TEST(ParseDuration, RejectsMalformedText) {
  for (const char* bad : {"", "s", "30", "-5s", "+5s", "1.5h", "5 m", " 5m", "5m ", "5M", "5sec",
                          "1h30m", "ms", "5y", "0x10s"}) {
    EXPECT_EQ(parseDuration(bad), std::nullopt) << bad;
  }
}

TEST(ParseDuration, RejectsOverflow) {
  EXPECT_EQ(parseDuration("99999999999999999999ms"), std::nullopt);
  EXPECT_EQ(parseDuration("9223372036854775807d"), std::nullopt);
  EXPECT_EQ(parseDuration("9223372036854775807ms"), std::nullopt);
}

// A duration is added to now (an emergency stop's until, a reservation's expiry): one past the
// 64-bit nanosecond system_clock (year 2262) wrapped into the past, so `for: 99999d` gave a stop
// "until 1716" that was off at once. At most 100 years is accepted.
TEST(ParseDuration, AcceptsAtMostOneHundredYears) {
  EXPECT_EQ(parseDuration("36500d"), kMaxDuration);
  EXPECT_EQ(parseDuration("876000h"), kMaxDuration);
  EXPECT_EQ(parseDuration("3153600000000ms"), kMaxDuration);
  for (const char* too_long :
       {"36501d", "99999d", "106751d", "2562047h", "10000000000s", "3153600000001ms"}) {
    EXPECT_EQ(parseDuration(too_long), std::nullopt) << too_long;
  }
  // now + two maximal durations still fits the clock.
  const auto now = std::chrono::system_clock::now();
  EXPECT_GT(now + kMaxDuration + kMaxDuration, now);
}

TEST(FormatDuration, PicksTheLargestExactUnit) {
  EXPECT_EQ(formatDuration(Millis(0)), "0s");
  EXPECT_EQ(formatDuration(Millis(250)), "250ms");
  EXPECT_EQ(formatDuration(Millis(1500)), "1500ms");
  EXPECT_EQ(formatDuration(seconds(90)), "90s");
  EXPECT_EQ(formatDuration(minutes(5)), "5m");
  EXPECT_EQ(formatDuration(hours(1)), "1h");
  EXPECT_EQ(formatDuration(hours(48)), "2d");
}

TEST(FormatDuration, RoundTripsThroughParse) {
  for (const char* text : {"250ms", "30s", "5m", "1h", "7d", "61s"}) {
    EXPECT_EQ(formatDuration(*parseDuration(text)), text);
  }
}

}  // namespace
}  // namespace spendgate::config
