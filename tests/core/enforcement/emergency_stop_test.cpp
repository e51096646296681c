#include "core/enforcement/emergency_stop.hpp"

#include <gtest/gtest.h>

#include "core/enforcement/denial_messages.hpp"
#include "tests/core/manual_clock.hpp"

namespace spendgate::core {
namespace {

using testing::utc;
using namespace std::chrono_literals;
constexpr Picodollars kUsd = kPicodollarsPerUsd;

EmergencyStopRule autoRule(std::chrono::milliseconds hold = 1h, Period period = Period::Day) {
  EmergencyStopRule rule;
  rule.auto_stop = EmergencyStopRule::Auto{500 * kUsd, period, hold};
  return rule;
}

TEST(EmergencyStop, StartsInactive) {
  const EmergencyStopState state;
  EXPECT_FALSE(emergencyStopBlocks(state, utc(2026, 1, 1)));
  EXPECT_EQ(evaluateEmergencyStop(state, EmergencyStopRule{}, 1000 * kUsd, utc(2026, 1, 1)), state);
}

TEST(EmergencyStop, ManualOnOff) {
  const auto t0 = utc(2026, 1, 1, 9);
  const EmergencyStopState on = manualStop({}, "incident 42", std::nullopt, t0);
  EXPECT_TRUE(on.active);
  EXPECT_EQ(on.source, EmergencyStopSource::Manual);
  EXPECT_EQ(on.reason, "incident 42");
  EXPECT_EQ(on.since, t0);
  EXPECT_FALSE(on.until);
  EXPECT_TRUE(emergencyStopBlocks(on, t0 + 1000h));
  EXPECT_EQ(emergencyStopRetryAfter(on, t0), std::nullopt);  // no end: no retry-after

  const EmergencyStopState off = manualResume(on, EmergencyStopRule{}, t0 + 5min);
  EXPECT_FALSE(off.active);
  EXPECT_FALSE(emergencyStopBlocks(off, t0 + 5min));
  EXPECT_EQ(off.since, t0 + 5min);
}

TEST(EmergencyStop, ManualWithDurationExpires) {
  const auto t0 = utc(2026, 1, 1, 9);
  const EmergencyStopState on = manualStop({}, "deploy", 90min, t0);
  ASSERT_TRUE(on.until);
  EXPECT_EQ(*on.until, t0 + 90min);
  EXPECT_TRUE(emergencyStopBlocks(on, t0 + 90min - 1ms));
  EXPECT_FALSE(emergencyStopBlocks(on, t0 + 90min));  // blocks computes expiry even unevaluated
  EXPECT_EQ(emergencyStopRetryAfter(on, t0 + 30min), std::chrono::milliseconds(60min));

  EXPECT_EQ(evaluateEmergencyStop(on, {}, 0, t0 + 89min), on);
  const EmergencyStopState after = evaluateEmergencyStop(on, {}, 0, t0 + 90min);
  EXPECT_FALSE(after.active);
  EXPECT_FALSE(after.until);
  EXPECT_EQ(after.since, t0 + 90min);
  EXPECT_EQ(after.reason, "");
}

TEST(EmergencyStop, ExpiryReadsLikeTurnedOffAtUntil) {
  const auto t0 = utc(2026, 1, 1, 9);
  EmergencyStopState on = manualStop({}, "short", 2s, t0);
  on.auto_suppressed_until = utc(2026, 1, 2);
  EXPECT_EQ(expireEmergencyStop(on, t0 + 2s - 1ms), on);

  const EmergencyStopState expired = expireEmergencyStop(on, t0 + 3s);
  // What manualResume at `until` gives, but for the source, which stays that of the stop.
  EmergencyStopState off_at_until = manualResume(on, EmergencyStopRule{}, t0 + 2s);
  off_at_until.source = on.source;
  EXPECT_EQ(expired, off_at_until);
  EXPECT_FALSE(expired.active);
  EXPECT_EQ(expired.reason, "");
  EXPECT_EQ(expired.since, t0 + 2s);  // when it ended, not when anyone noticed
  EXPECT_FALSE(expired.until);
  EXPECT_EQ(expired.auto_suppressed_until, on.auto_suppressed_until);
  // Noticing it again (another instance, the next tick) changes nothing more.
  EXPECT_EQ(expireEmergencyStop(expired, t0 + 1h), expired);
  EXPECT_EQ(evaluateEmergencyStop(on, EmergencyStopRule{}, 0, t0 + 3s), expired);

  // Without an end, or when off, there is nothing to expire; an auto stop keeps its source.
  const EmergencyStopState open_ended = manualStop({}, "open", std::nullopt, t0);
  EXPECT_EQ(expireEmergencyStop(open_ended, t0 + 1000h), open_ended);
  const EmergencyStopState tripped = evaluateEmergencyStop({}, autoRule(1h), 501 * kUsd, t0);
  const EmergencyStopState auto_expired = expireEmergencyStop(tripped, t0 + 1h);
  EXPECT_FALSE(auto_expired.active);
  EXPECT_EQ(auto_expired.source, EmergencyStopSource::Auto);
  EXPECT_EQ(auto_expired.reason, "");
  EXPECT_EQ(auto_expired.since, t0 + 1h);
}

TEST(EmergencyStop, AutoTripsWhenSpendPassesTheThresholdAndHoldsForTheHold) {
  const EmergencyStopRule rule = autoRule(1h);
  const auto t0 = utc(2026, 1, 1, 15);
  // SPEC §2: it trips when global spend passes spend_usd; reaching it exactly is not passing.
  EXPECT_FALSE(evaluateEmergencyStop({}, rule, 500 * kUsd - 1, t0).active);
  EXPECT_FALSE(evaluateEmergencyStop({}, rule, 500 * kUsd, t0).active);
  EXPECT_TRUE(evaluateEmergencyStop({}, rule, 500 * kUsd + 1, t0).active);
  const EmergencyStopState tripped = evaluateEmergencyStop({}, rule, 501 * kUsd, t0);
  EXPECT_TRUE(tripped.active);
  EXPECT_EQ(tripped.source, EmergencyStopSource::Auto);
  EXPECT_EQ(tripped.since, t0);
  // `until` is the hold, not the end of the day.
  ASSERT_TRUE(tripped.until);
  EXPECT_EQ(*tripped.until, t0 + 1h);
  EXPECT_EQ(emergencyStopRetryAfter(tripped, t0 + 15min), std::chrono::milliseconds(45min));
  EXPECT_NE(tripped.reason.find("$501"), std::string::npos) << tripped.reason;
  EXPECT_EQ(tripped.reason, "global spend $501 this day passed the automatic stop at $500");

  // Within the hold nothing changes, whatever the spend.
  EXPECT_EQ(evaluateEmergencyStop(tripped, rule, 600 * kUsd, t0 + 1h - 1ms), tripped);
  EXPECT_TRUE(emergencyStopBlocks(tripped, t0 + 1h - 1ms));
  EXPECT_FALSE(emergencyStopBlocks(tripped, t0 + 1h));  // requests pass once the hold is over
}

TEST(EmergencyStop, AutoTripsAgainAfterTheHoldWhileThePeriodIsStillOver) {
  const EmergencyStopRule rule = autoRule(1h);
  const auto t0 = utc(2026, 1, 1, 15);
  const EmergencyStopState tripped = evaluateEmergencyStop({}, rule, 501 * kUsd, t0);
  // The first settle after the hold, same day, spend still over: a new trip, fresh since/until.
  const auto t1 = t0 + 1h + 20s;
  const EmergencyStopState again = evaluateEmergencyStop(tripped, rule, 520 * kUsd, t1);
  EXPECT_TRUE(again.active);
  EXPECT_EQ(again.source, EmergencyStopSource::Auto);
  EXPECT_EQ(again.since, t1);
  ASSERT_TRUE(again.until);
  EXPECT_EQ(*again.until, t1 + 1h);
  EXPECT_NE(again.reason.find("$520"), std::string::npos) << again.reason;
}

TEST(EmergencyStop, AutoClearsAfterTheHoldInANewPeriodBelowTheThreshold) {
  const EmergencyStopRule rule = autoRule(2h);
  const auto t0 = utc(2026, 1, 1, 23, 30);
  const EmergencyStopState tripped = evaluateEmergencyStop({}, rule, 501 * kUsd, t0);
  ASSERT_TRUE(tripped.until);
  EXPECT_EQ(*tripped.until, t0 + 2h);  // later than midnight
  // At 00:30 the new day has little spend, but the hold is not over.
  EXPECT_TRUE(evaluateEmergencyStop(tripped, rule, 3 * kUsd, utc(2026, 1, 2, 0, 30)).active);
  // Hold over: clears, at the end of the hold.
  const EmergencyStopState cleared = evaluateEmergencyStop(tripped, rule, 3 * kUsd, t0 + 3h);
  EXPECT_FALSE(cleared.active);
  EXPECT_FALSE(cleared.until);
  EXPECT_EQ(cleared.since, t0 + 2h);
  // If the new day is already over the threshold too, it trips again.
  const EmergencyStopState again = evaluateEmergencyStop(tripped, rule, 700 * kUsd, t0 + 2h);
  EXPECT_TRUE(again.active);
  EXPECT_EQ(again.since, t0 + 2h);
  EXPECT_EQ(*again.until, t0 + 4h);
}

TEST(EmergencyStop, HoldZeroAndTotalMeanUntilTurnedOff) {
  const auto t0 = utc(2026, 1, 1, 15);
  const EmergencyStopState zero = evaluateEmergencyStop({}, autoRule(0ms), 501 * kUsd, t0);
  EXPECT_TRUE(zero.active);
  EXPECT_FALSE(zero.until);
  EXPECT_EQ(emergencyStopRetryAfter(zero, t0), std::nullopt);
  EXPECT_EQ(evaluateEmergencyStop(zero, autoRule(0ms), 0, utc(2026, 3, 1)), zero);
  const EmergencyStopState total =
      evaluateEmergencyStop({}, autoRule(1h, Period::Total), 501 * kUsd, t0);
  EXPECT_TRUE(total.active);
  EXPECT_FALSE(total.until);
  // Not "this total": a total period is all time.
  EXPECT_EQ(total.reason, "global spend $501 in total passed the automatic stop at $500");
}

TEST(EmergencyStop, ManualOffSuppressesAutoForThePeriod) {
  const EmergencyStopRule rule = autoRule(1h);
  const auto t0 = utc(2026, 1, 1, 15);
  const EmergencyStopState tripped = evaluateEmergencyStop({}, rule, 501 * kUsd, t0);
  const EmergencyStopState off = manualResume(tripped, rule, t0 + 10min);
  EXPECT_FALSE(off.active);
  ASSERT_TRUE(off.auto_suppressed_until);
  EXPECT_EQ(*off.auto_suppressed_until, utc(2026, 1, 2));
  // The operator's decision holds for the rest of the day even though spend keeps rising.
  EXPECT_FALSE(evaluateEmergencyStop(off, rule, 900 * kUsd, t0 + 5h).active);
  // Tomorrow the trigger works again.
  const EmergencyStopState tomorrow =
      evaluateEmergencyStop(off, rule, 501 * kUsd, utc(2026, 1, 2, 8));
  EXPECT_TRUE(tomorrow.active);
  EXPECT_FALSE(tomorrow.auto_suppressed_until);
}

TEST(EmergencyStop, ManualOffOfAManualStopDoesNotSuppress) {
  const EmergencyStopRule rule = autoRule(1h);
  const auto t0 = utc(2026, 1, 1, 15);
  const EmergencyStopState off = manualResume(manualStop({}, "x", {}, t0), rule, t0 + 1min);
  EXPECT_FALSE(off.auto_suppressed_until);
  EXPECT_TRUE(evaluateEmergencyStop(off, rule, 501 * kUsd, t0 + 2min).active);
}

TEST(EmergencyStop, ManualOnOverridesAuto) {
  const EmergencyStopRule rule = autoRule(1h);
  const auto t0 = utc(2026, 1, 1, 15);
  const EmergencyStopState tripped = evaluateEmergencyStop({}, rule, 501 * kUsd, t0);
  const EmergencyStopState manual = manualStop(tripped, "keep it off", std::nullopt, t0 + 1min);
  EXPECT_EQ(manual.source, EmergencyStopSource::Manual);
  EXPECT_FALSE(manual.until);
  EXPECT_TRUE(evaluateEmergencyStop(manual, rule, 0, utc(2026, 1, 5)).active);
}

TEST(EmergencyStop, DenialCarriesRetryAfterOnlyWithAnEnd) {
  const auto t0 = utc(2026, 1, 1, 9);
  const Denial open_ended = emergencyStopDenial(manualStop({}, "incident", {}, t0), t0);
  EXPECT_EQ(open_ended.reason, DenialReason::EmergencyStop);
  EXPECT_FALSE(open_ended.should_retry);
  EXPECT_FALSE(open_ended.retry_after);
  EXPECT_NE(open_ended.message.find("incident"), std::string::npos);

  const Denial timed = emergencyStopDenial(manualStop({}, "deploy", 10min, t0), t0 + 1min);
  ASSERT_TRUE(timed.retry_after);
  EXPECT_EQ(*timed.retry_after, std::chrono::milliseconds(9min));
  EXPECT_EQ(timed.retryAfterSeconds(), 540);
  EXPECT_NE(timed.message.find("2026-01-01T09:10:00Z"), std::string::npos) << timed.message;
}

}  // namespace
}  // namespace spendgate::core
