#include "core/alerts/alert_engine.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <cmath>
#include <utility>

#include "core/enforcement/period.hpp"
#include "tests/core/manual_clock.hpp"

namespace spendgate::core {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::utc;

constexpr Picodollars usd(double amount) {
  return static_cast<Picodollars>(amount * static_cast<double>(kPicodollarsPerUsd) + 0.5);
}

BudgetRule rule(std::string name,
                Period period,
                double limit,
                std::vector<double> alert_at,
                Scope scope = Scope::Global,
                BudgetMode mode = BudgetMode::Hard) {
  BudgetRule r;
  r.name = std::move(name);
  r.scope = scope;
  r.period = period;
  r.limit = usd(limit);
  r.mode = mode;
  r.alert_at = std::move(alert_at);
  return r;
}

BudgetSnapshot snap(const BudgetRule& r,
                    std::string subject,
                    Picodollars spent,
                    std::chrono::system_clock::time_point now,
                    Picodollars reserved = 0) {
  BudgetSnapshot s;
  s.name = r.name;
  s.scope = r.scope;
  s.subject = std::move(subject);
  s.period = r.period;
  s.window = periodWindow(r.period, now);
  s.limit = r.limit;
  s.spent = spent;
  s.reserved = reserved;
  s.mode = r.mode;
  return s;
}

std::vector<std::string> ids(const std::vector<Alert>& alerts) {
  std::vector<std::string> out;
  for (const auto& a : alerts) out.push_back(a.id);
  return out;
}

std::vector<Alert> ofKind(const std::vector<Alert>& alerts, AlertKind kind) {
  std::vector<Alert> out;
  for (const auto& a : alerts) {
    if (a.kind == kind) out.push_back(a);
  }
  return out;
}

/** Threshold alerts only (a fast-rising test budget also projects past its limit). */
std::vector<Alert> thresholdsOf(AlertEngine& engine,
                                const std::vector<BudgetSnapshot>& after,
                                std::chrono::system_clock::time_point now) {
  return ofKind(engine.onBudgetSettled(after, now), AlertKind::BudgetThreshold);
}

class AlertEngineTest : public ::testing::Test {
protected:
  testing::ManualClock clock{utc(2024, 5, 1, 12)};
};

TEST(AlertLevels, ThresholdMapping) {
  EXPECT_EQ(thresholdLevel(0.1), AlertLevel::Info);
  EXPECT_EQ(thresholdLevel(0.5), AlertLevel::Info);
  EXPECT_EQ(thresholdLevel(0.799), AlertLevel::Info);
  EXPECT_EQ(thresholdLevel(0.8), AlertLevel::Warning);
  EXPECT_EQ(thresholdLevel(0.949), AlertLevel::Warning);
  EXPECT_EQ(thresholdLevel(0.95), AlertLevel::Critical);
  EXPECT_EQ(thresholdLevel(0.999), AlertLevel::Critical);
  EXPECT_EQ(thresholdLevel(1.0), AlertLevel::Exceeded);
  EXPECT_EQ(thresholdLevel(2.5), AlertLevel::Exceeded);
  EXPECT_EQ(alertLevelName(AlertLevel::Exceeded), "exceeded");
  EXPECT_EQ(alertLevelFromName("critical"), AlertLevel::Critical);
  EXPECT_EQ(alertLevelFromName("loud"), std::nullopt);
}

TEST(AlertText, UsdAndPercent) {
  EXPECT_EQ(usdText(usd(412.5)), "$412.50");
  EXPECT_EQ(usdText(usd(0.0042)), "$0.0042");
  EXPECT_EQ(usdText(0), "$0.00");
  EXPECT_EQ(usdText(usd(1234567.891)), "$1234567.89");
  EXPECT_EQ(usdText(usd(-2.5)), "-$2.50");
  EXPECT_EQ(percentText(0.8), "80%");
  EXPECT_EQ(percentText(0.955), "95.5%");
  EXPECT_EQ(percentText(1.5), "150%");
}

// Six significant digits, at least cents: small budgets are not rounded away.
TEST(AlertText, UsdKeepsSixSignificantDigits) {
  EXPECT_EQ(usdText(8'465'000'000), "$0.008465");
  EXPECT_EQ(usdText(usd(0.01)), "$0.01");
  EXPECT_EQ(usdText(usd(0.125)), "$0.125");
  EXPECT_EQ(usdText(usd(12.3456789)), "$12.3457");
  EXPECT_EQ(usdText(usd(0.0123456789)), "$0.0123457");
  EXPECT_EQ(usdText(usd(9.9999996)), "$10.00");
  EXPECT_EQ(usdText(420), "$0.00000000042");
  EXPECT_EQ(usdText(1), "$0.000000000001");
}

TEST_F(AlertEngineTest, ExhaustedTotalBudgetDoesNotPromiseAReset) {
  const auto total = rule("tiny", Period::Total, 0.01, {1.0});
  AlertEngine engine({total});
  auto a = thresholdsOf(engine, {snap(total, "", usd(0.0102), clock.now())}, clock.now());
  ASSERT_EQ(a.size(), 1u);
  EXPECT_THAT(a[0].message, HasSubstr("Budget tiny: $0.0102 spent of $0.01 (102%) in total"));
  EXPECT_THAT(a[0].message, Not(HasSubstr("period resets")));
  EXPECT_THAT(a[0].message, HasSubstr("(this budget never resets). Hard budget: requests charged "
                                      "to it are refused from now on; only a higher limit_usd"));

  const auto daily = rule("daily", Period::Day, 0.01, {1.0});
  AlertEngine day_engine({daily});
  a = thresholdsOf(day_engine, {snap(daily, "", usd(0.0102), clock.now())}, clock.now());
  ASSERT_EQ(a.size(), 1u);
  EXPECT_THAT(a[0].message, HasSubstr("refused until the period resets"));
}

TEST_F(AlertEngineTest, ThresholdsFireOncePerPeriodAndAgainInTheNext) {
  const auto r = rule("org-daily", Period::Day, 100, {0.5, 0.8, 0.95, 1.0});
  AlertEngine engine({r});
  auto settle = [&](double spent) {
    return thresholdsOf(engine, {snap(r, "", usd(spent), clock.now())}, clock.now());
  };

  EXPECT_TRUE(settle(40).empty());
  auto a = settle(50);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].id, "budget:org-daily::1714521600:threshold:0.5");
  EXPECT_EQ(a[0].level, AlertLevel::Info);
  EXPECT_EQ(a[0].kind, AlertKind::BudgetThreshold);
  EXPECT_EQ(a[0].budget, "org-daily");
  EXPECT_EQ(a[0].subject, "");
  EXPECT_EQ(a[0].created_at, clock.now());
  EXPECT_EQ(a[0].title, "Budget org-daily reached 50% of its day limit");
  EXPECT_THAT(a[0].message, HasSubstr("$50.00 spent of $100.00 (50%)"));
  EXPECT_EQ(a[0].details.at("threshold").as_double(), 0.5);
  EXPECT_EQ(a[0].details.at("limit_usd").as_double(), 100.0);

  clock.advance(1min);
  EXPECT_TRUE(settle(55).empty());
  EXPECT_TRUE(settle(50).empty());

  a = settle(80);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].id, "budget:org-daily::1714521600:threshold:0.8");
  EXPECT_EQ(a[0].level, AlertLevel::Warning);

  a = settle(96);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].id, "budget:org-daily::1714521600:threshold:0.95");
  EXPECT_EQ(a[0].level, AlertLevel::Critical);

  a = settle(100);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].id, "budget:org-daily::1714521600:threshold:1");
  EXPECT_EQ(a[0].level, AlertLevel::Exceeded);
  EXPECT_EQ(a[0].title, "Budget org-daily reached its day limit");
  EXPECT_THAT(a[0].message, HasSubstr("Hard budget: requests charged to it are refused"));

  EXPECT_TRUE(settle(120).empty());

  // The next day starts from zero: each threshold fires again, with the new period in its id.
  clock.set(utc(2024, 5, 2, 9));
  EXPECT_TRUE(settle(10).empty());
  a = settle(51);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].id, "budget:org-daily::1714608000:threshold:0.5");
  a = settle(81);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].id, "budget:org-daily::1714608000:threshold:0.8");
}

TEST_F(AlertEngineTest, AJumpSendsOnlyTheHighestThresholdCrossed) {
  const auto r =
      rule("b", Period::Day, 100, {0.5, 0.8, 0.95, 1.0}, Scope::Global, BudgetMode::Soft);
  AlertEngine engine({r});
  auto a = thresholdsOf(engine, {snap(r, "", usd(97), clock.now())}, clock.now());
  EXPECT_THAT(ids(a), ::testing::ElementsAre("budget:b::1714521600:threshold:0.95"));
  a = thresholdsOf(engine, {snap(r, "", usd(150), clock.now())}, clock.now());
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].level, AlertLevel::Exceeded);
  EXPECT_THAT(a[0].message, HasSubstr("Soft budget: requests still pass"));
  EXPECT_TRUE(thresholdsOf(engine, {snap(r, "", usd(160), clock.now())}, clock.now()).empty());
}

TEST_F(AlertEngineTest, ThresholdAmountIsExactToThePicodollar) {
  const auto r = rule("b", Period::Day, 500, {0.8});
  AlertEngine engine({r});
  EXPECT_TRUE(thresholdsOf(engine, {snap(r, "", usd(400) - 1, clock.now())}, clock.now()).empty());
  EXPECT_EQ(thresholdsOf(engine, {snap(r, "", usd(400), clock.now())}, clock.now()).size(), 1u);
}

TEST_F(AlertEngineTest, EveryThresholdFiresAtItsExactAmountInAnyOrderOfAlertAt) {
  // Spend below the smallest threshold's amount is not checked against the others: one
  // picodollar below each amount fires nothing new, the amount itself fires that threshold,
  // whatever the order of alert_at (and an odd limit, so the amounts are rounded).
  for (const std::vector<double>& alert_at :
       {std::vector<double>{0.5, 0.8, 0.95, 1.0}, std::vector<double>{1.0, 0.8, 0.5, 0.95},
        std::vector<double>{0.95, 0.5, 1.0, 0.8}}) {
    const auto r = rule("b", Period::Day, 333.333333, alert_at, Scope::Global, BudgetMode::Soft);
    AlertEngine engine({r});
    const std::pair<double, const char*> thresholds[] = {
        {0.5, "0.5"}, {0.8, "0.8"}, {0.95, "0.95"}, {1.0, "1"}};
    for (const auto& [fraction, text] : thresholds) {
      const auto amount = static_cast<Picodollars>(
          std::llround(static_cast<double>(static_cast<long double>(r.limit) * fraction)));
      EXPECT_TRUE(thresholdsOf(engine, {snap(r, "", amount - 1, clock.now())}, clock.now()).empty())
          << fraction;
      const auto fired = thresholdsOf(engine, {snap(r, "", amount, clock.now())}, clock.now());
      ASSERT_EQ(fired.size(), 1u) << fraction;
      EXPECT_THAT(fired[0].id, ::testing::EndsWith(std::string(":threshold:") + text));
    }
  }
}

TEST_F(AlertEngineTest, EachSubjectHasItsOwnThresholds) {
  const auto r = rule("per-team", Period::Month, 10, {0.5}, Scope::Team);
  AlertEngine engine({r});
  auto a = thresholdsOf(
      engine, {snap(r, "search", usd(6), clock.now()), snap(r, "ads", usd(1), clock.now())},
      clock.now());
  EXPECT_THAT(ids(a), ::testing::ElementsAre("budget:per-team:search:1714521600:threshold:0.5"));
  EXPECT_EQ(a[0].subject, "search");
  EXPECT_EQ(a[0].title, "Budget per-team for team search reached 50% of its month limit");
  a = thresholdsOf(engine, {snap(r, "ads", usd(5), clock.now())}, clock.now());
  EXPECT_THAT(ids(a), ::testing::ElementsAre("budget:per-team:ads:1714521600:threshold:0.5"));
}

TEST_F(AlertEngineTest, SubjectsAreEscapedInIds) {
  const auto r = rule("b", Period::Day, 10, {0.5}, Scope::User);
  AlertEngine engine({r});
  auto a = thresholdsOf(engine, {snap(r, "a:b", usd(6), clock.now())}, clock.now());
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].id, "budget:b:a%3Ab:1714521600:threshold:0.5");
  EXPECT_EQ(a[0].subject, "a:b");
}

TEST_F(AlertEngineTest, CooldownHoldsRepeatsOfTheSameThreshold) {
  // A minute budget crosses 50 % every minute; the 1 h cooldown lets one alert through per hour.
  const auto r = rule("burst", Period::Minute, 1, {0.5});
  AlertSettings settings;
  settings.cooldown = 1h;
  AlertEngine engine({r}, settings);
  int sent = 0;
  for (int minute = 0; minute < 60; ++minute) {
    sent += static_cast<int>(
        thresholdsOf(engine, {snap(r, "", usd(0.6), clock.now())}, clock.now()).size());
    clock.advance(1min);
  }
  EXPECT_EQ(sent, 1);
  EXPECT_EQ(engine.suppressed(), 59u);
  auto a = thresholdsOf(engine, {snap(r, "", usd(0.6), clock.now())}, clock.now());
  EXPECT_EQ(a.size(), 1u);  // 60 min after the first one

  // Another threshold (another kind+subject key) is not held by it.
  engine.reconfigure({rule("burst", Period::Minute, 1, {0.5, 0.9})}, settings);
  clock.advance(1min);
  a = thresholdsOf(engine, {snap(r, "", usd(0.95), clock.now())}, clock.now());
  ASSERT_EQ(a.size(), 1u);
  EXPECT_THAT(a[0].id, HasSubstr(":threshold:0.9"));
}

TEST_F(AlertEngineTest, CooldownZeroLetsEveryPeriodThrough) {
  const auto r = rule("burst", Period::Minute, 1, {0.5});
  AlertSettings settings;
  settings.cooldown = 0ms;
  AlertEngine engine({r}, settings);
  int sent = 0;
  for (int minute = 0; minute < 5; ++minute) {
    sent += static_cast<int>(
        thresholdsOf(engine, {snap(r, "", usd(0.6), clock.now())}, clock.now()).size());
    sent += static_cast<int>(
        thresholdsOf(engine, {snap(r, "", usd(0.7), clock.now())}, clock.now()).size());
    clock.advance(1min);
  }
  EXPECT_EQ(sent, 5);
}

TEST_F(AlertEngineTest, ProjectionFiresOncePerPeriodWhenTheRatePassesTheLimit) {
  const auto r = rule("daily", Period::Day, 100, {});
  AlertEngine engine({r});
  // 01:00 is 4 % into the day: too early to project, however fast the start.
  clock.set(utc(2024, 5, 1, 1));
  EXPECT_TRUE(engine.onBudgetSettled({snap(r, "", usd(10), clock.now())}, clock.now()).empty());
  // 06:00: $20 after 25 % projects to $80 < $100.
  clock.set(utc(2024, 5, 1, 6));
  EXPECT_TRUE(engine.onBudgetSettled({snap(r, "", usd(20), clock.now())}, clock.now()).empty());
  // $30 after 25 % projects to $120.
  auto a = ofKind(engine.onBudgetSettled({snap(r, "", usd(30), clock.now())}, clock.now()),
                  AlertKind::BudgetProjection);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].id, "budget:daily::1714521600:projection");
  EXPECT_EQ(a[0].level, AlertLevel::Warning);
  EXPECT_EQ(a[0].details.at("projected_usd").as_double(), 120.0);
  EXPECT_EQ(a[0].details.at("projected_limit_at").as_string(), "2024-05-01T20:00:00.000Z");
  EXPECT_THAT(a[0].message,
              HasSubstr("$30.00 spent after 25% of the day period projects to $120.00"));
  clock.set(utc(2024, 5, 1, 7));
  EXPECT_TRUE(ofKind(engine.onBudgetSettled({snap(r, "", usd(60), clock.now())}, clock.now()),
                     AlertKind::BudgetProjection)
                  .empty());
  // Next day, once more.
  clock.set(utc(2024, 5, 2, 12));
  a = ofKind(engine.onBudgetSettled({snap(r, "", usd(60), clock.now())}, clock.now()),
             AlertKind::BudgetProjection);
  EXPECT_THAT(ids(a), ::testing::ElementsAre("budget:daily::1714608000:projection"));
}

/** projection()'s own decision, spelled out: does `spent` at `now` project past the limit? */
bool projectsPastLimit(const BudgetSnapshot& s,
                       std::chrono::system_clock::time_point now,
                       double min_elapsed) {
  if (s.limit <= 0 || now <= s.window.start || now >= s.window.end || s.spent >= s.limit) {
    return false;
  }
  const auto ms = [](std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  };
  const auto length = static_cast<long double>(ms(s.window.end) - ms(s.window.start));
  const auto elapsed = static_cast<long double>(ms(now) - ms(s.window.start));
  if (elapsed <= 0 || elapsed < min_elapsed * length) return false;
  return static_cast<long double>(s.spent) * length / elapsed > static_cast<long double>(s.limit);
}

TEST_F(AlertEngineTest, ProjectionFiresExactlyWhereItsFormulaSays) {
  // The engine skips projection() for spent below a floor it keeps per budget (limit x the
  // minimum elapsed fraction, less a margin): around that floor, around the amount that
  // projects to the limit exactly, and at the edges of the minimum elapsed time, an alert
  // fires exactly when the formula says so. A fresh engine per case (one alert per period).
  int fired = 0;
  int cases = 0;
  for (const double min_elapsed : {0.1, 0.5, 0.001, 0.0, 1.0}) {
    AlertSettings settings;
    settings.projection_min_elapsed = min_elapsed;
    for (const Picodollars limit :
         {usd(100), usd(1000000), Picodollars{7}, Picodollars{999'999'999'999'999'999},
          Picodollars{123'456'789'013}}) {
      auto r = rule("daily", Period::Day, 0, {});
      r.limit = limit;
      for (const auto offset :
           {std::chrono::milliseconds(1), std::chrono::milliseconds(8640000 - 1),
            std::chrono::milliseconds(8640000), std::chrono::milliseconds(8640000 + 1),
            std::chrono::milliseconds(43200000 - 1), std::chrono::milliseconds(43200000),
            std::chrono::milliseconds(86400000 - 1)}) {
        const auto now = utc(2024, 5, 1, 0) + offset;
        const auto length = 86400000.0L;
        const auto elapsed = static_cast<long double>(offset.count());
        const auto at_limit =
            static_cast<Picodollars>(static_cast<long double>(limit) * elapsed / length);
        const auto at_floor =
            static_cast<Picodollars>(static_cast<long double>(limit) * min_elapsed);
        std::vector<Picodollars> amounts = {0, 1, limit - 1, limit};
        for (Picodollars d = -3; d <= 3; ++d) {
          amounts.push_back(at_limit + d);
          amounts.push_back(at_floor + d);
          amounts.push_back(at_floor - at_floor / 1'000'000'000 + d);
        }
        for (const Picodollars spent : amounts) {
          if (spent < 0) continue;
          AlertEngine engine({r}, settings);
          const BudgetSnapshot s = snap(r, "", spent, now);
          const bool expected = projectsPastLimit(s, now, min_elapsed);
          const auto alerts = ofKind(engine.onBudgetSettled({s}, now), AlertKind::BudgetProjection);
          ASSERT_EQ(alerts.size(), expected ? 1u : 0u)
              << "min_elapsed " << min_elapsed << " limit " << limit << " offset " << offset.count()
              << " spent " << spent;
          fired += expected ? 1 : 0;
          ++cases;
        }
      }
    }
  }
  EXPECT_GT(fired, 100);
  EXPECT_GT(cases - fired, 100);
}

TEST_F(AlertEngineTest, AReloadOrANewLimitMovesWhereThresholdsAndProjectionStart) {
  // What the engine keeps per budget to skip the threshold and projection arithmetic follows
  // the rules of the last reload and the limit each settlement carries.
  clock.set(utc(2024, 5, 1, 12));
  auto r = rule("daily", Period::Day, 100, {0.9});
  AlertEngine engine({r});
  EXPECT_TRUE(engine.onBudgetSettled({snap(r, "", usd(40), clock.now())}, clock.now()).empty());
  // alert_at 0.5 from now on: the next settlement at $41 of $100 is still below it ...
  r.alert_at = {0.3, 0.5};
  engine.reconfigure({r}, {});
  // ... but the 0.3 threshold was crossed: only the highest crossed is sent.
  EXPECT_THAT(ids(thresholdsOf(engine, {snap(r, "", usd(41), clock.now())}, clock.now())),
              ::testing::ElementsAre("budget:daily::1714521600:threshold:0.3"));
  // A lower limit carried by the settlement (a reload of the store's rules): $41 of $80 passes
  // 0.5, and projects to $82 > $80 at 12:00.
  auto lower = r;
  lower.limit = usd(80);
  const auto alerts = engine.onBudgetSettled({snap(lower, "", usd(41), clock.now())}, clock.now());
  EXPECT_THAT(ids(ofKind(alerts, AlertKind::BudgetThreshold)),
              ::testing::ElementsAre("budget:daily::1714521600:threshold:0.5"));
  EXPECT_THAT(ids(ofKind(alerts, AlertKind::BudgetProjection)),
              ::testing::ElementsAre("budget:daily::1714521600:projection"));
  // A projection that starts later after a reload: at 12:00 (50 %), with min_elapsed 0.6,
  // nothing projects; with 0.4 again, it would (but it already fired this period).
  auto r2 = rule("other", Period::Day, 100, {});
  AlertSettings late;
  late.projection_min_elapsed = 0.6;
  engine.reconfigure({r, r2}, late);
  EXPECT_TRUE(engine.onBudgetSettled({snap(r2, "", usd(90), clock.now())}, clock.now()).empty());
  AlertSettings early;
  early.projection_min_elapsed = 0.4;
  engine.reconfigure({r, r2}, early);
  EXPECT_THAT(ids(engine.onBudgetSettled({snap(r2, "", usd(90), clock.now())}, clock.now())),
              ::testing::ElementsAre("budget:other::1714521600:projection"));
}

TEST_F(AlertEngineTest, NoProjectionForTotalOrExceededBudgets) {
  const auto total = rule("forever", Period::Total, 100, {});
  const auto daily = rule("daily", Period::Day, 100, {});
  AlertEngine engine({total, daily});
  clock.set(utc(2024, 5, 1, 12));
  EXPECT_TRUE(engine.onBudgetSettled({snap(total, "", usd(99), clock.now())}, clock.now()).empty());
  EXPECT_TRUE(
      engine.onBudgetSettled({snap(daily, "", usd(100), clock.now())}, clock.now()).empty());
}

// Feeds `per_step` every `step` for `duration`; returns every alert produced.
std::vector<Alert> feed(AlertEngine& engine,
                        testing::ManualClock& clock,
                        const BudgetRule& r,
                        Picodollars& spent,
                        Picodollars per_step,
                        std::chrono::minutes step,
                        std::chrono::minutes duration) {
  std::vector<Alert> all;
  for (auto t = std::chrono::minutes(0); t < duration; t += step) {
    clock.advance(step);
    spent += per_step;
    auto a = engine.onBudgetSettled({snap(r, "", spent, clock.now())}, clock.now());
    all.insert(all.end(), a.begin(), a.end());
  }
  return all;
}

TEST_F(AlertEngineTest, SpendRateAlertsWhenTheLastHourIsFarAboveTheTrailingAverage) {
  const auto r = rule("org", Period::Total, 1e6, {});
  AlertEngine engine({r});
  Picodollars spent = 0;
  EXPECT_TRUE(engine.onBudgetSettled({snap(r, "", spent, clock.now())}, clock.now()).empty());
  // A day at $6 per hour ($0.50 every 5 minutes): steady, no alert.
  EXPECT_TRUE(feed(engine, clock, r, spent, usd(0.5), 5min, 24h).empty());
  // Twice the rate for an hour: not "far above".
  EXPECT_TRUE(feed(engine, clock, r, spent, usd(1), 5min, 60min).empty());
  // Then $40 within 20 minutes: the last hour passes 3 x the average and $5.
  auto a = feed(engine, clock, r, spent, usd(10), 5min, 20min);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].kind, AlertKind::SpendRate);
  EXPECT_EQ(a[0].level, AlertLevel::Warning);
  EXPECT_THAT(a[0].id, ::testing::StartsWith("budget:org::spend_rate:"));
  EXPECT_THAT(a[0].message, HasSubstr("in the last hour"));
  EXPECT_THAT(a[0].message, HasSubstr("per hour over the previous 24 h"));
  EXPECT_GT(a[0].details.at("factor").as_double(), 3.0);
  EXPECT_GE(a[0].details.at("last_hour_usd").as_double(), 5.0);
  // It does not repeat while the spike lasts (cooldown 1 h, one per clock hour).
  EXPECT_TRUE(feed(engine, clock, r, spent, usd(10), 5min, 30min).empty());
}

TEST_F(AlertEngineTest, SpendRateIgnoresQuietBudgetsAndNeedsHistory) {
  const auto r = rule("org", Period::Total, 1e6, {});
  AlertEngine engine({r});
  Picodollars spent = 0;
  engine.onBudgetSettled({snap(r, "", spent, clock.now())}, clock.now());
  // Cents per hour, then a 100x spike that is still only $3 in an hour: below the $5 minimum.
  EXPECT_TRUE(feed(engine, clock, r, spent, usd(0.0025), 5min, 24h).empty());
  EXPECT_TRUE(feed(engine, clock, r, spent, usd(0.25), 5min, 60min).empty());

  // A fresh engine (a restart): the first hour has no baseline, whatever it spends.
  AlertEngine fresh({r});
  fresh.onBudgetSettled({snap(r, "", spent, clock.now())}, clock.now());
  EXPECT_TRUE(feed(fresh, clock, r, spent, usd(10), 5min, 60min).empty());
  // With an hour of (expensive) history, another jump above 3x that hour does alert.
  EXPECT_EQ(feed(fresh, clock, r, spent, usd(40), 5min, 60min).size(), 1u);
}

TEST_F(AlertEngineTest, SpendRateSpreadsSpendSeenAfterAGapOverTheGap) {
  // Another instance spent $24 over 24 h; this one sees the counter again only now. That is not a
  // spike: the delta is spread over the time since this instance last looked.
  const auto r = rule("org", Period::Total, 1e6, {});
  AlertEngine engine({r});
  Picodollars spent = usd(1);
  engine.onBudgetSettled({snap(r, "", spent, clock.now())}, clock.now());
  clock.advance(24h);
  spent += usd(24);
  EXPECT_TRUE(engine.onBudgetSettled({snap(r, "", spent, clock.now())}, clock.now()).empty());
  // Whereas $24 more in 10 minutes is.
  EXPECT_EQ(feed(engine, clock, r, spent, usd(12), 5min, 10min).size(), 1u);
}

TEST_F(AlertEngineTest, SpendRateWithEveryChargeObservedCountsSpendWhenItIsSeen) {
  // One instance on the memory store sees every charge: after a quiet gap, a burst is a burst,
  // not spend spread back over the gap. (The audit's case: a baseline of cents, 3 h 10 min of
  // nothing, then $5.21 within seconds.)
  const auto r = rule("org", Period::Total, 1e6, {});
  AlertSettings local;
  local.every_charge_observed = true;
  AlertEngine engine({r}, local);
  AlertEngine shared({r});  // the default: spend may be other instances', so it is spread
  Picodollars spent = 0;
  for (auto* e : {&engine, &shared})
    e->onBudgetSettled({snap(r, "", spent, clock.now())}, clock.now());
  for (int i = 0; i < 12 * 5; ++i) {  // 5 h of $0.01 every 5 minutes
    clock.advance(5min);
    spent += usd(0.01);
    for (auto* e : {&engine, &shared}) {
      ASSERT_TRUE(e->onBudgetSettled({snap(r, "", spent, clock.now())}, clock.now()).empty());
    }
  }
  clock.advance(3h + 10min);
  std::vector<Alert> local_alerts;
  std::vector<Alert> shared_alerts;
  for (int i = 0; i < 4; ++i) {
    clock.advance(1s);
    spent += usd(1.302);
    for (auto& a : engine.onBudgetSettled({snap(r, "", spent, clock.now())}, clock.now())) {
      local_alerts.push_back(a);
    }
    for (auto& a : shared.onBudgetSettled({snap(r, "", spent, clock.now())}, clock.now())) {
      shared_alerts.push_back(a);
    }
  }
  ASSERT_EQ(local_alerts.size(), 1u);
  EXPECT_EQ(local_alerts[0].kind, AlertKind::SpendRate);
  EXPECT_NEAR(local_alerts[0].details.at("last_hour_usd").as_double(), 4 * 1.302, 1e-9);
  EXPECT_TRUE(shared_alerts.empty());  // spread back over the gap: under the $5 floor
}

TEST_F(AlertEngineTest, TheOrderOfTheSettledBudgetsDoesNotMatter) {
  // The engine remembers what each position of the list resolved to; a list whose order (or
  // content) changes between calls must give the same alerts as a steady one.
  const auto hourly = rule("hourly", Period::Hour, 20, {0.25, 0.5, 0.8, 1.0});
  const auto daily = rule("daily", Period::Day, 100, {0.5, 1.0}, Scope::Team);
  AlertEngine steady({hourly, daily});
  AlertEngine shuffled({hourly, daily});
  Picodollars hourly_spent = 0;
  Picodollars daily_spent = 0;
  auto hour_start = periodWindow(Period::Hour, clock.now()).start;
  std::size_t fired = 0;
  for (int i = 0; i < 600; ++i) {
    clock.advance(i < 300 ? 5min : 1min);
    if (const auto start = periodWindow(Period::Hour, clock.now()).start; start != hour_start) {
      hour_start = start;
      hourly_spent = 0;
    }
    const Picodollars step = i % 50 < 40 ? usd(0.3) : usd(3);
    hourly_spent += step;
    daily_spent += step;
    const auto a = snap(hourly, "", hourly_spent, clock.now());
    const auto b = snap(daily, i % 7 == 0 ? "other" : "search", daily_spent, clock.now());
    std::vector<BudgetSnapshot> in_order = {a, b};
    std::vector<BudgetSnapshot> other_order =
        i % 3 == 0
            ? std::vector<BudgetSnapshot>{b, a}
            : (i % 3 == 1 ? std::vector<BudgetSnapshot>{a} : std::vector<BudgetSnapshot>{a, b});
    if (i % 3 == 1) {
      // The same settlements, in two calls.
      auto first = steady.onBudgetSettled(in_order, clock.now());
      auto second = shuffled.onBudgetSettled({a}, clock.now());
      auto rest = shuffled.onBudgetSettled({b}, clock.now());
      second.insert(second.end(), rest.begin(), rest.end());
      auto x = ids(first);
      auto y = ids(second);
      std::sort(x.begin(), x.end());
      std::sort(y.begin(), y.end());
      ASSERT_EQ(x, y) << i;
      fired += x.size();
      continue;
    }
    auto x = ids(steady.onBudgetSettled(in_order, clock.now()));
    auto y = ids(shuffled.onBudgetSettled(other_order, clock.now()));
    std::sort(x.begin(), x.end());
    std::sort(y.begin(), y.end());
    ASSERT_EQ(x, y) << i;
    fired += x.size();
  }
  EXPECT_GT(fired, 10u);  // thresholds, projections and spend-rate alerts all had their turn
  EXPECT_EQ(steady.trackedCounters(), shuffled.trackedCounters());
}

TEST_F(AlertEngineTest, EmergencyStopTripIsCriticalAndClearIsInfo) {
  AlertEngine engine;
  EmergencyStopState off;
  EmergencyStopState on = manualStop(off, "runaway agent", 1h, clock.now());
  auto a = engine.onEmergencyStopChanged(off, on, clock.now());
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].kind, AlertKind::EmergencyStopTripped);
  EXPECT_EQ(a[0].level, AlertLevel::Critical);
  EXPECT_EQ(a[0].id, "emergency_stop:on:1714564800000");
  EXPECT_EQ(a[0].title, "Emergency stop ON (manual)");
  EXPECT_THAT(a[0].message, HasSubstr("runaway agent"));
  EXPECT_THAT(a[0].message, HasSubstr("until 2024-05-01T13:00:00.000Z"));
  EXPECT_EQ(a[0].details.at("until").as_string(), "2024-05-01T13:00:00.000Z");

  EXPECT_TRUE(engine.onEmergencyStopChanged(on, on, clock.now()).empty());

  clock.advance(10min);
  EmergencyStopState cleared = manualResume(on, {}, clock.now());
  a = engine.onEmergencyStopChanged(on, cleared, clock.now());
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].kind, AlertKind::EmergencyStopCleared);
  EXPECT_EQ(a[0].level, AlertLevel::Info);
  EXPECT_EQ(a[0].id, "emergency_stop:off:1714565400000");
  EXPECT_THAT(a[0].message, HasSubstr("runaway agent"));

  // A second trip within the cooldown is a new event: sent, whatever the cooldown.
  clock.advance(10min);
  auto again = manualStop(cleared, "again", std::nullopt, clock.now());
  a = engine.onEmergencyStopChanged(cleared, again, clock.now());
  ASSERT_EQ(a.size(), 1u);
  EXPECT_THAT(a[0].message, HasSubstr("until it is turned off"));
  // The same transition seen again (a stale read of the store) is no new event.
  EXPECT_TRUE(engine.onEmergencyStopChanged(cleared, again, clock.now()).empty());
}

// Each emergency-stop transition is an event an operator must see: two on/off pairs within the
// cooldown give four alerts, while a budget threshold repeat within it stays held.
TEST_F(AlertEngineTest, EmergencyStopTransitionsSkipTheCooldown) {
  AlertEngine engine;  // cooldown 1h
  EmergencyStopState state;
  std::vector<Alert> all;
  for (int pair = 0; pair < 2; ++pair) {
    const auto on = manualStop(state, "pair " + std::to_string(pair), std::nullopt, clock.now());
    for (auto& x : engine.onEmergencyStopChanged(state, on, clock.now())) all.push_back(x);
    clock.advance(1min);
    const auto off = manualResume(on, {}, clock.now());
    for (auto& x : engine.onEmergencyStopChanged(on, off, clock.now())) all.push_back(x);
    clock.advance(1min);
    state = off;
  }
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].kind, AlertKind::EmergencyStopTripped);
  EXPECT_EQ(all[1].kind, AlertKind::EmergencyStopCleared);
  EXPECT_EQ(all[2].kind, AlertKind::EmergencyStopTripped);
  EXPECT_EQ(all[3].kind, AlertKind::EmergencyStopCleared);
  EXPECT_NE(all[0].id, all[2].id);
  EXPECT_NE(all[1].id, all[3].id);
  EXPECT_EQ(engine.suppressed(), 0u);
}

TEST_F(AlertEngineTest, AutoStopTripNamesItsSource) {
  AlertEngine engine;
  EmergencyStopRule rule;
  rule.auto_stop = EmergencyStopRule::Auto{usd(500), Period::Day, 1h};
  EmergencyStopState off;
  auto on = evaluateEmergencyStop(off, rule, usd(501), clock.now());
  ASSERT_TRUE(on.active);
  auto a = engine.onEmergencyStopChanged(off, on, clock.now());
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].title, "Emergency stop ON (auto)");
  EXPECT_EQ(a[0].details.at("source").as_string(), "auto");
}

TEST_F(AlertEngineTest, AutoStopTrippingAgainAfterItsHoldAlertsAgain) {
  AlertEngine engine;  // cooldown 1h, the same as the hold
  EmergencyStopRule rule;
  rule.auto_stop = EmergencyStopRule::Auto{usd(500), Period::Day, 1h};
  const auto on = evaluateEmergencyStop({}, rule, usd(501), clock.now());
  ASSERT_EQ(engine.onEmergencyStopChanged({}, on, clock.now()).size(), 1u);
  clock.advance(1h + 5s);
  const auto again = evaluateEmergencyStop(on, rule, usd(510), clock.now());
  ASSERT_TRUE(again.active);
  ASSERT_NE(again.since, on.since);
  // Straight from the expired stop to the new trip: the expiry's off alert, then the on alert.
  const auto a = engine.onEmergencyStopChanged(on, again, clock.now());
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].kind, AlertKind::EmergencyStopCleared);
  EXPECT_EQ(a[0].id, "emergency_stop:off:" + std::to_string(1714564800000 + 3600000));
  EXPECT_EQ(a[0].details.at("ended").as_string(), "ran_out");
  EXPECT_EQ(a[1].kind, AlertKind::EmergencyStopTripped);
  EXPECT_EQ(a[1].id, "emergency_stop:on:" + std::to_string(1714564800000 + 3605000));
  // A manual stop laid over a running automatic one is no new trip.
  const auto manual = manualStop(again, "keep it off", std::nullopt, clock.now() + 1min);
  EXPECT_TRUE(engine.onEmergencyStopChanged(again, manual, clock.now() + 1min).empty());
}

TEST_F(AlertEngineTest, EmergencyStopThatRunsOutSaysSo) {
  AlertEngine engine;
  const auto t0 = clock.now();
  const auto on = manualStop({}, "short", 2s, t0);
  ASSERT_EQ(engine.onEmergencyStopChanged({}, on, t0).size(), 1u);
  clock.advance(2500ms);  // the timer notices half a second late
  const auto expired = expireEmergencyStop(on, clock.now());
  auto a = engine.onEmergencyStopChanged(on, expired, clock.now());
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].kind, AlertKind::EmergencyStopCleared);
  EXPECT_EQ(a[0].level, AlertLevel::Info);
  // The id comes from `until`, so every instance that notices the expiry computes the same one.
  EXPECT_EQ(a[0].id, "emergency_stop:off:" + std::to_string(1714564800000 + 2000));
  EXPECT_EQ(a[0].title, "Emergency stop ended: its time ran out");
  EXPECT_THAT(a[0].message, HasSubstr("its time ran out"));
  EXPECT_THAT(a[0].message, HasSubstr("\"short\""));
  EXPECT_EQ(a[0].details.at("ended").as_string(), "ran_out");
  EXPECT_EQ(a[0].details.at("reason").as_string(), "short");
  EXPECT_EQ(a[0].details.at("since").as_string(), "2024-05-01T12:00:02.000Z");
  EXPECT_TRUE(a[0].details.at("until").is_null());
  // Seeing the stored expiry again (the next tick) is no change.
  EXPECT_TRUE(engine.onEmergencyStopChanged(expired, expired, clock.now()).empty());

  // Turned off by hand before its end: the other wording.
  AlertEngine other;
  const auto timed = manualStop({}, "timed", 1h, clock.now());
  other.onEmergencyStopChanged({}, timed, clock.now());
  clock.advance(10min);
  a = other.onEmergencyStopChanged(timed, manualResume(timed, {}, clock.now()), clock.now());
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].title, "Emergency stop off");
  EXPECT_THAT(a[0].message, HasSubstr("was turned off at"));
  EXPECT_EQ(a[0].details.at("ended").as_string(), "turned_off");
}

TEST_F(AlertEngineTest, BudgetsRemovedByAReloadNoLongerAlert) {
  const auto r = rule("b", Period::Day, 10, {0.5});
  AlertEngine engine({r});
  engine.reconfigure({}, {});
  EXPECT_TRUE(engine.onBudgetSettled({snap(r, "", usd(9), clock.now())}, clock.now()).empty());
}

TEST_F(AlertEngineTest, StateOfEndedPeriodsIsPruned) {
  const auto r = rule("b", Period::Minute, 10, {0.5}, Scope::Key);
  AlertEngine engine({r});
  for (int i = 0; i < 100; ++i) {
    engine.onBudgetSettled({snap(r, "k" + std::to_string(i), usd(1), clock.now())}, clock.now());
  }
  EXPECT_GE(engine.trackedCounters(), 100u);
  clock.advance(26h);
  engine.onBudgetSettled({snap(r, "other", usd(1), clock.now())}, clock.now());
  EXPECT_EQ(engine.trackedCounters(), 1u);
}

TEST_F(AlertEngineTest, TotalPeriodAlertsHaveNoPeriodEnd) {
  const auto r = rule("forever", Period::Total, 10, {0.8});
  AlertEngine engine({r});
  auto a = thresholdsOf(engine, {snap(r, "", usd(8.5), clock.now())}, clock.now());
  ASSERT_EQ(a.size(), 1u);
  const auto json = alertToJson(a[0]);
  const auto& d = json.at("details").as_object();
  EXPECT_TRUE(d.at("period_end").is_null());
  EXPECT_EQ(d.at("period").as_string(), "total");
  EXPECT_THAT(a[0].message, ::testing::Not(HasSubstr("2200")));
}

TEST_F(AlertEngineTest, JsonShape) {
  const auto r = rule("b", Period::Day, 10, {0.8});
  AlertEngine engine({r});
  auto a = thresholdsOf(engine, {snap(r, "", usd(8.5), clock.now(), usd(0.25))}, clock.now());
  ASSERT_EQ(a.size(), 1u);
  auto json = alertToJson(a[0]);
  EXPECT_EQ(json.at("level").as_string(), "warning");
  EXPECT_EQ(json.at("kind").as_string(), "budget_threshold");
  EXPECT_EQ(json.at("created_at").as_string(), "2024-05-01T12:00:00.000Z");
  const auto& d = json.at("details").as_object();
  EXPECT_EQ(d.at("spent_usd").as_double(), 8.5);
  EXPECT_EQ(d.at("reserved_usd").as_double(), 0.25);
  EXPECT_EQ(d.at("used_ratio").as_double(), 0.85);
  EXPECT_EQ(d.at("period_end").as_string(), "2024-05-02T00:00:00.000Z");
  EXPECT_EQ(d.at("mode").as_string(), "hard");
  EXPECT_THAT(a[0].message, HasSubstr("$0.25 more is reserved by requests in flight"));
}

}  // namespace
}  // namespace spendgate::core
