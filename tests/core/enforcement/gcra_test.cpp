#include "core/enforcement/gcra.hpp"

#include <gtest/gtest.h>

namespace spendgate::core {
namespace {

// Pure arithmetic; the store tests drive the same through admit() with a clock.

TEST(Gcra, BurstUpToTheLimitThenSpaced) {
  const std::int64_t rate = 60;  // per minute: one per second after the burst
  std::int64_t level = 0;
  for (int i = 0; i < 60; ++i) {
    ASSERT_EQ(gcra::waitMs(level, 1, rate), 0) << i;
    level = gcra::add(level, 1);
  }
  EXPECT_EQ(gcra::remaining(level, rate), 0);
  EXPECT_EQ(gcra::resetMs(level, rate), 60000);
  EXPECT_EQ(gcra::waitMs(level, 1, rate), 1000);
  EXPECT_EQ(gcra::waitMs(gcra::drain(level, 999, rate), 1, rate), 1);
  EXPECT_EQ(gcra::waitMs(gcra::drain(level, 1000, rate), 1, rate), 0);
}

TEST(Gcra, RatesThatDoNotDivideAMinute) {
  const std::int64_t rate = 7;  // one per 8571.43 ms
  std::int64_t level = 0;
  for (int i = 0; i < 7; ++i) level = gcra::add(level, 1);
  const auto wait = gcra::waitMs(level, 1, rate);
  ASSERT_TRUE(wait);
  EXPECT_EQ(*wait, 8572);  // rounded up: exactly then it passes, a millisecond earlier not
  EXPECT_EQ(gcra::waitMs(gcra::drain(level, 8572, rate), 1, rate), 0);
  EXPECT_EQ(gcra::waitMs(gcra::drain(level, 8571, rate), 1, rate), 1);
}

TEST(Gcra, TokensNeverFitBeyondTheWholeLimit) {
  EXPECT_EQ(gcra::waitMs(0, 1001, 1000), std::nullopt);
  EXPECT_EQ(gcra::waitMs(0, 1000, 1000), 0);
}

TEST(Gcra, DrainHandlesHugeGapsAndClockSteps) {
  EXPECT_EQ(gcra::drain(5000, 1'700'000'000'000, gcra::kMaxRatePerMinute), 0);
  EXPECT_EQ(gcra::drain(5000, -10, 60), 5000);  // a clock going back drains nothing
  EXPECT_EQ(gcra::add(0, -5), 0);
  EXPECT_EQ(gcra::add(gcra::kMaxLevel, 5), gcra::kMaxLevel);
}

}  // namespace
}  // namespace spendgate::core
