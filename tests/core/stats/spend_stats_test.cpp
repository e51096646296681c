#include "core/stats/spend_stats.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "core/ledger/ledger_entry.hpp"
#include "tests/core/manual_clock.hpp"

namespace spendgate::core {
namespace {

using testing::utc;
using namespace std::chrono_literals;

SettledRequest req(std::string model,
                   Picodollars cost,
                   std::string key = "k1",
                   std::int64_t input = 100,
                   std::int64_t cached = 10,
                   std::int64_t output = 20) {
  SettledRequest r;
  r.provider = model.starts_with("claude") ? "anthropic" : "openai";
  r.model = std::move(model);
  r.key = std::move(key);
  r.team = "search";
  r.cost = cost;
  r.input_tokens = input;
  r.cached_input_tokens = cached;
  r.output_tokens = output;
  return r;
}

SpendTotals totals(Picodollars spend,
                   std::int64_t requests,
                   std::int64_t input,
                   std::int64_t cached,
                   std::int64_t output) {
  return SpendTotals{spend, requests, input, cached, output};
}

TEST(SpendStats, GroupsSortedBySpendWithTotals) {
  SpendStats stats;
  const auto now = utc(2026, 3, 4, 10, 30);
  stats.record(req("gpt-4o-mini", 240'000'000), now);
  stats.record(req("gpt-4o-mini", 240'000'000, "k2"), now + 1s);
  stats.record(req("claude-sonnet-4-5", 13'275'000'000, "k2", 3600, 2000, 300), now + 2s);
  stats.record(req("gpt-4o", 0, "k1", 5, 0, 0), now + 3s);

  const SpendReport report = stats.report(Dimension::Model, Period::Day, now + 10s);
  EXPECT_EQ(report.dimension, Dimension::Model);
  EXPECT_EQ(report.period, Period::Day);
  EXPECT_EQ(report.window.start, utc(2026, 3, 4));
  EXPECT_EQ(report.window.end, utc(2026, 3, 5));
  EXPECT_EQ(report.total, totals(13'755'000'000, 4, 3805, 2020, 340));
  ASSERT_EQ(report.groups.size(), 3u);
  EXPECT_EQ(report.groups[0],
            (SpendGroup{"claude-sonnet-4-5", totals(13'275'000'000, 1, 3600, 2000, 300)}));
  EXPECT_EQ(report.groups[1], (SpendGroup{"gpt-4o-mini", totals(480'000'000, 2, 200, 20, 40)}));
  EXPECT_EQ(report.groups[2], (SpendGroup{"gpt-4o", totals(0, 1, 5, 0, 0)}));

  const SpendReport by_key = stats.report(Dimension::Key, Period::Day, now);
  ASSERT_EQ(by_key.groups.size(), 2u);
  EXPECT_EQ(by_key.groups[0].key, "k2");
  EXPECT_EQ(by_key.groups[0].totals.spend, 13'515'000'000);
  EXPECT_EQ(by_key.groups[1].key, "k1");
  EXPECT_EQ(by_key.total, report.total);

  const SpendReport by_provider = stats.report(Dimension::Provider, Period::Month, now);
  ASSERT_EQ(by_provider.groups.size(), 2u);
  EXPECT_EQ(by_provider.groups[0].key, "anthropic");
  EXPECT_EQ(by_provider.groups[1].key, "openai");
  EXPECT_EQ(by_provider.groups[1].totals.requests, 3);
}

TEST(SpendStats, EveryDimensionSumsToTheTotal) {
  SpendStats stats;
  const auto now = utc(2026, 3, 4, 10);
  for (int i = 0; i < 50; ++i) {
    SettledRequest r = req(i % 3 ? "gpt-4o-mini" : "gpt-4o", 1000 + i, "k" + std::to_string(i % 7));
    r.user = i % 2 ? "alice" : "";  // requests without a user share the "" group
    r.customer = "c" + std::to_string(i % 4);
    r.agent = i % 5 ? "crawler" : "";
    stats.record(r, now + std::chrono::seconds(i));
  }
  for (Dimension d : kSpendDimensions) {
    for (Period p : kSpendPeriods) {
      const SpendReport report = stats.report(d, p, now + 1min);
      SpendTotals sum;
      for (const auto& g : report.groups) sum.add(g.totals);
      EXPECT_EQ(sum, report.total) << dimensionName(d) << " " << periodName(p);
      EXPECT_EQ(report.total.requests, 50);
    }
  }
  const SpendReport by_user = stats.report(Dimension::User, Period::Day, now);
  ASSERT_EQ(by_user.groups.size(), 2u);
  EXPECT_EQ(by_user.groups[0].key, "alice");  // odd i carry slightly more
  EXPECT_EQ(by_user.groups[1].key, "");
}

TEST(SpendStats, DayRollsOverAtUtcMidnight) {
  SpendStats stats;
  stats.record(req("gpt-4o-mini", 100), utc(2026, 3, 4, 23, 59, 59, 999));
  EXPECT_EQ(
      stats.report(Dimension::Model, Period::Day, utc(2026, 3, 4, 23, 59, 59, 999)).total.spend,
      100);
  // Midnight: the new day is empty before anything is recorded in it.
  const SpendReport fresh = stats.report(Dimension::Model, Period::Day, utc(2026, 3, 5));
  EXPECT_EQ(fresh.window.start, utc(2026, 3, 5));
  EXPECT_EQ(fresh.total, SpendTotals{});
  EXPECT_TRUE(fresh.groups.empty());

  stats.record(req("gpt-4o", 7), utc(2026, 3, 5, 0, 0, 0, 1));
  const SpendReport day = stats.report(Dimension::Model, Period::Day, utc(2026, 3, 5, 12));
  EXPECT_EQ(day.total.spend, 7);
  ASSERT_EQ(day.groups.size(), 1u);
  EXPECT_EQ(day.groups[0].key, "gpt-4o");
  // The previous day is dropped, not reported.
  EXPECT_EQ(stats.report(Dimension::Model, Period::Day, utc(2026, 3, 4, 12)).total.requests, 0);
  // Week and month still hold both (2026-03-04 is a Wednesday).
  const SpendReport week = stats.report(Dimension::Model, Period::Week, utc(2026, 3, 5, 12));
  EXPECT_EQ(week.window.start, utc(2026, 3, 2));
  EXPECT_EQ(week.total.spend, 107);
  EXPECT_EQ(week.groups.size(), 2u);
  EXPECT_EQ(stats.report(Dimension::Model, Period::Month, utc(2026, 3, 5)).total.spend, 107);
  // Hour: only the 00:00 hour of March 5.
  const SpendReport hour = stats.report(Dimension::Model, Period::Hour, utc(2026, 3, 5, 0, 30));
  EXPECT_EQ(hour.window.start, utc(2026, 3, 5, 0));
  EXPECT_EQ(hour.total.spend, 7);
}

TEST(SpendStats, MonthEndAndYearEnd) {
  SpendStats stats;
  // 2024 is a leap year: Feb 29 is the last day of February.
  stats.record(req("gpt-4o-mini", 5), utc(2024, 2, 29, 23, 59, 59));
  EXPECT_EQ(stats.report(Dimension::Model, Period::Month, utc(2024, 2, 29, 23, 59, 59)).total.spend,
            5);
  stats.record(req("gpt-4o-mini", 3), utc(2024, 3, 1));
  const SpendReport march = stats.report(Dimension::Model, Period::Month, utc(2024, 3, 1, 1));
  EXPECT_EQ(march.window.start, utc(2024, 3, 1));
  EXPECT_EQ(march.window.end, utc(2024, 4, 1));
  EXPECT_EQ(march.total.spend, 3);
  // Feb 26 2024 is a Monday: the ISO week spans the month boundary and keeps both.
  EXPECT_EQ(stats.report(Dimension::Model, Period::Week, utc(2024, 3, 1, 1)).total.spend, 8);

  stats.record(req("gpt-4o", 11), utc(2024, 12, 31, 23));
  stats.record(req("gpt-4o", 13), utc(2025, 1, 1));
  const SpendReport january = stats.report(Dimension::Model, Period::Month, utc(2025, 1, 1));
  EXPECT_EQ(january.window.start, utc(2025, 1, 1));
  EXPECT_EQ(january.window.end, utc(2025, 2, 1));
  EXPECT_EQ(january.total.spend, 13);
  ASSERT_EQ(january.groups.size(), 1u);
  EXPECT_EQ(january.groups[0].key, "gpt-4o");
}

TEST(SpendStats, LateRecordAfterRolloverSkipsTheGoneWindowOnly) {
  SpendStats stats;
  stats.record(req("a", 1), utc(2026, 3, 5, 0, 0, 1));
  // A settle stamped just before midnight arrives after the rollover.
  stats.record(req("b", 2), utc(2026, 3, 4, 23, 59, 59));
  EXPECT_EQ(stats.report(Dimension::Model, Period::Day, utc(2026, 3, 5, 1)).total.spend, 1);
  EXPECT_EQ(stats.report(Dimension::Model, Period::Hour, utc(2026, 3, 5, 0, 5)).total.spend, 1);
  // Same ISO week (Mon 2026-03-02) and month: counted there.
  const SpendReport week = stats.report(Dimension::Model, Period::Week, utc(2026, 3, 5, 1));
  EXPECT_EQ(week.total.spend, 3);
  EXPECT_EQ(week.groups.size(), 2u);
}

TEST(SpendStats, OldValuesAreDroppedOnRollover) {
  SpendStats stats;
  for (int i = 0; i < 100; ++i) {
    stats.record(req("m" + std::to_string(i), 1, "key" + std::to_string(i)), utc(2026, 1, 10));
  }
  EXPECT_GT(stats.valueCount(), 200u);
  // Next month and next week: every January value is gone from every current window.
  stats.record(req("only", 1, "k"), utc(2026, 2, 20));
  EXPECT_EQ(stats.valueCount(), kSpendDimensions.size());  // one value per dimension
  EXPECT_EQ(stats.report(Dimension::Model, Period::Month, utc(2026, 2, 20)).groups.size(), 1u);
}

TEST(SpendStats, ValuesBeyondTheCapGoToOther) {
  SpendStats stats(3);
  const auto now = utc(2026, 3, 4, 10);
  for (int i = 0; i < 6; ++i) stats.record(req("gpt-4o", 10, "key" + std::to_string(i)), now);
  const SpendReport report = stats.report(Dimension::Key, Period::Day, now);
  EXPECT_EQ(report.total.spend, 60);
  EXPECT_EQ(report.total.requests, 6);
  ASSERT_EQ(report.groups.size(), 4u);
  EXPECT_EQ(report.groups[0].key, std::string(kOtherGroup));
  EXPECT_EQ(report.groups[0].totals.requests, 3);
}

TEST(SpendStats, QueryAnswersInlineAndUnsupportedPeriodIsEmpty) {
  SpendStats stats;
  const auto now = utc(2026, 3, 4, 10);
  stats.record(req("gpt-4o", 10), now);
  bool called = false;
  stats.query(Dimension::Model, Period::Day, now, [&](StoreResult<SpendReport> result) {
    called = true;
    ASSERT_TRUE(result.ok());
    EXPECT_EQ(result.value->total.spend, 10);
  });
  EXPECT_TRUE(called);
  EXPECT_EQ(stats.report(Dimension::Model, Period::Minute, now).total.requests, 0);
  EXPECT_FALSE(isSpendPeriod(Period::Total));
  EXPECT_TRUE(isSpendPeriod(Period::Week));
}

TEST(SpendStats, FromLedgerEntry) {
  LedgerEntry entry;
  entry.provider = "openai";
  entry.model = "gpt-4o-mini-2024-07-18";
  entry.requested_model = "gpt-4o-mini";
  entry.key = "search-team";
  entry.user = "alice";
  entry.team = "search";
  entry.customer = "acme";
  entry.agent = "crawler";
  entry.input_tokens = 1000;
  entry.cached_input_tokens = 400;
  entry.output_tokens = 200;
  entry.cost_picousd = 240'000'000;
  const SettledRequest r = settledRequestFrom(entry);
  EXPECT_EQ(dimensionValue(r, Dimension::Model), "gpt-4o-mini-2024-07-18");
  EXPECT_EQ(dimensionValue(r, Dimension::Provider), "openai");
  EXPECT_EQ(dimensionValue(r, Dimension::Key), "search-team");
  EXPECT_EQ(dimensionValue(r, Dimension::User), "alice");
  EXPECT_EQ(dimensionValue(r, Dimension::Team), "search");
  EXPECT_EQ(dimensionValue(r, Dimension::Customer), "acme");
  EXPECT_EQ(dimensionValue(r, Dimension::Agent), "crawler");
  EXPECT_EQ(r.cost, 240'000'000);
  EXPECT_EQ(r.input_tokens, 1000);
  EXPECT_EQ(r.cached_input_tokens, 400);
  EXPECT_EQ(r.output_tokens, 200);
}

TEST(SpendStats, FromLedgerLineAsFromItsEntry) {
  // The proxy counts a request from views of its ledger line (not NUL-terminated: each ends
  // where the next begins); the request must own copies of exactly those values.
  const std::string text = "openaigpt-4o-minikey-1alicesearchacmecrawler";
  const std::string_view all = text;
  LedgerLine line;
  line.provider = all.substr(0, 6);
  line.model = all.substr(6, 11);
  line.key = all.substr(17, 5);
  line.user = all.substr(22, 5);
  line.team = all.substr(27, 6);
  line.customer = all.substr(33, 4);
  line.agent = all.substr(37, 7);
  line.cost_picousd = -5;  // counted as 0, like an entry's
  line.input_tokens = 7;
  line.cached_input_tokens = 3;
  line.output_tokens = 2;
  const SettledRequest r = settledRequestFrom(line);
  EXPECT_EQ(r.provider, "openai");
  EXPECT_EQ(r.model, "gpt-4o-mini");
  EXPECT_EQ(r.key, "key-1");
  EXPECT_EQ(r.user, "alice");
  EXPECT_EQ(r.team, "search");
  EXPECT_EQ(r.customer, "acme");
  EXPECT_EQ(r.agent, "crawler");
  EXPECT_EQ(r.cost, 0);
  EXPECT_EQ(r.input_tokens, 7);
  EXPECT_EQ(r.cached_input_tokens, 3);
  EXPECT_EQ(r.output_tokens, 2);
}

// Runs of requests with the same dimension values are summed once (SpendStats::Run): a report in
// the middle of a run, after it ends, and across a rollover must see every request exactly once.
TEST(SpendStats, RunsOfIdenticalRequestsAreCountedOnceEach) {
  SpendStats stats;
  const auto now = utc(2026, 3, 4, 23, 59);
  stats.record(req("gpt-4o-mini", 100), now);
  stats.record(req("gpt-4o-mini", 100), now + 1s);
  stats.record(req("gpt-4o-mini", 100), now + 2s);
  SpendReport mid = stats.report(Dimension::Key, Period::Day, now + 3s);
  EXPECT_EQ(mid.total, totals(300, 3, 300, 30, 60));
  ASSERT_EQ(mid.groups.size(), 1u);
  EXPECT_EQ(mid.groups[0], (SpendGroup{"k1", totals(300, 3, 300, 30, 60)}));

  stats.record(req("gpt-4o-mini", 50, "k2"), now + 4s);  // ends the run
  stats.record(req("gpt-4o-mini", 50, "k2"), now + 5s);
  SpendReport after = stats.report(Dimension::Key, Period::Day, now + 6s);
  EXPECT_EQ(after.total, totals(400, 5, 500, 50, 100));
  ASSERT_EQ(after.groups.size(), 2u);
  EXPECT_EQ(after.groups[0], (SpendGroup{"k1", totals(300, 3, 300, 30, 60)}));
  EXPECT_EQ(after.groups[1], (SpendGroup{"k2", totals(100, 2, 200, 20, 40)}));
  EXPECT_EQ(stats.report(Dimension::Model, Period::Day, now + 6s).groups[0].totals.requests, 5);

  // The same values after midnight: the pending run stays in the old day, the new day starts empty.
  stats.record(req("gpt-4o-mini", 50, "k2"), now + 61s);
  const SpendReport next_day = stats.report(Dimension::Key, Period::Day, now + 62s);
  EXPECT_EQ(next_day.total, totals(50, 1, 100, 10, 20));
  ASSERT_EQ(next_day.groups.size(), 1u);
  EXPECT_EQ(next_day.groups[0], (SpendGroup{"k2", totals(50, 1, 100, 10, 20)}));
  const SpendReport month = stats.report(Dimension::Key, Period::Month, now + 62s);
  EXPECT_EQ(month.total, totals(450, 6, 600, 60, 120));
  ASSERT_EQ(month.groups.size(), 2u);
  EXPECT_EQ(month.groups[0], (SpendGroup{"k1", totals(300, 3, 300, 30, 60)}));
  EXPECT_EQ(month.groups[1], (SpendGroup{"k2", totals(150, 3, 300, 30, 60)}));

  // A late record for the gone day counts in the month only, and leaves the run it meets whole.
  stats.record(req("gpt-4o-mini", 50, "k2"), now + 63s);
  stats.record(req("gpt-4o-mini", 7, "k2"), now);
  EXPECT_EQ(stats.report(Dimension::Key, Period::Day, now + 64s).total,
            totals(100, 2, 200, 20, 40));
  EXPECT_EQ(stats.report(Dimension::Key, Period::Month, now + 64s).total,
            totals(507, 8, 800, 80, 160));
}

TEST(SpendStats, ConcurrentRecordsAreAllCounted) {
  SpendStats stats;
  const auto now = utc(2026, 3, 4, 10);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        stats.record(req("m" + std::to_string(i % 5), 3, "k" + std::to_string(t)), now);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const SpendReport report = stats.report(Dimension::Key, Period::Week, now);
  EXPECT_EQ(report.total.requests, 8000);
  EXPECT_EQ(report.total.spend, 24000);
  EXPECT_EQ(report.groups.size(), 4u);
}

}  // namespace
}  // namespace spendgate::core
