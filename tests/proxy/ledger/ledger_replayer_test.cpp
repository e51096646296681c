#include "proxy/ledger/ledger_replayer.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/enforcement/planner.hpp"
#include "core/ledger/ledger_entry.hpp"
#include "core/ledger/ledger_replay_planner.hpp"
#include "core/stats/spend_stats.hpp"
#include "core/store/memory_counter_store.hpp"
#include "proxy/logging/logger.hpp"
#include "tests/proxy/test_files.hpp"

namespace spendgate::proxy {
namespace {

using namespace std::chrono_literals;
constexpr core::Picodollars kUsd = core::kPicodollarsPerUsd;

class LedgerReplayerTest : public ::testing::Test {
protected:
  void SetUp() override {
    path_ = test_support::perTestTempPath("ledger_replay_test", ".jsonl");
    std::filesystem::remove(path_);
    core::BudgetRule day;
    day.name = "org-daily";
    day.limit = 1000 * kUsd;
    core::BudgetRule per_key = day;
    per_key.name = "per-key";
    per_key.scope = core::Scope::Key;
    rules_.budgets = {day, per_key};
    rules_.emergency_stop.auto_stop = core::EmergencyStopRule::Auto{500 * kUsd};
  }
  void TearDown() override { std::filesystem::remove(path_); }

  static Logger& logger() { return test_support::quietLogger(); }

  core::LedgerEntry entry(std::chrono::system_clock::time_point ts,
                          core::Picodollars cost,
                          std::string key) const {
    core::LedgerEntry e;
    e.ts = ts;
    e.request_id = "r";
    e.provider = "openai";
    e.model = e.requested_model = "gpt-4o-mini";
    e.key = std::move(key);
    e.cost_picousd = cost;
    return e;
  }

  core::Picodollars spent(core::MemoryCounterStore& store,
                          const std::string& name,
                          const std::string& subject) const {
    core::Picodollars out = -1;
    store.budgets(now_, [&](core::StoreResult<std::vector<core::BudgetSnapshot>> list) {
      for (const auto& b : list.value.value_or(std::vector<core::BudgetSnapshot>{})) {
        if (b.name == name && b.subject == subject) out = b.spent;
      }
    });
    return out;
  }

  std::filesystem::path path_;
  core::Rules rules_;
  // Noon UTC, so records "earlier today" are easy to place.
  std::chrono::system_clock::time_point now_ =
      std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now()) + 12h;
};

TEST_F(LedgerReplayerTest, AddsTodaysRecordsSkipsOldAndMalformedOnesAndReadsAcrossBlocks) {
  // Enough lines (over 1 MiB) that a stream's buffer refills many times mid-line.
  constexpr int kLines = 20000;
  {
    std::ofstream out(path_);
    for (int i = 0; i < kLines; ++i) {
      out << core::toJsonLine(entry(now_ - 1h + std::chrono::milliseconds(i), 1'000'000 + i,
                                    i % 2 == 0 ? "even" : "odd"));
      if (i == 7) out << "{\"ts\":\"garbage\",\"cost_usd\":1}\n\n   \n";
      if (i == 8)
        out << core::toJsonLine(entry(now_ - 40 * 24h, 50 * kUsd, "even"));  // past every period
    }
    out << R"({"ts":")" << core::formatRfc3339(now_ - 2h) << R"(","cost_usd":2,"key":"odd"})";
  }  // the last line has no '\n'
  core::Picodollars expected_even = 0;
  core::Picodollars expected_odd = 2 * kUsd;
  for (int i = 0; i < kLines; ++i) (i % 2 == 0 ? expected_even : expected_odd) += 1'000'000 + i;

  core::MemoryCounterStore store(0ms);
  core::SpendStats stats;
  int primed = 0;
  LedgerReplayer replayer(store, stats, logger(), [&](const auto& budgets, auto) {
    EXPECT_EQ(budgets.size(), 2u);
    ++primed;
  });
  const LedgerReplayer::Result result = replayer.replay(path_.string(), rules_, now_);

  EXPECT_EQ(result.malformed, 1u);
  EXPECT_EQ(result.lines, kLines + 3u);  // + garbage, the old record, the last line
  EXPECT_EQ(result.records, kLines + 1u);
  EXPECT_EQ(result.cost, expected_even + expected_odd);
  EXPECT_EQ(primed, kLines + 1);
  EXPECT_EQ(spent(store, "org-daily", ""), expected_even + expected_odd);
  EXPECT_EQ(spent(store, "per-key", "even"), expected_even);
  EXPECT_EQ(spent(store, "per-key", "odd"), expected_odd);
  core::Picodollars period_spend = -1;
  store.spend(core::spendCounterKey(core::Period::Day, now_),
              [&](auto total) { period_spend = *total.value; });
  EXPECT_EQ(period_spend, expected_even + expected_odd);
  const core::SpendReport day = stats.report(core::Dimension::Key, core::Period::Day, now_);
  EXPECT_EQ(day.total.spend, expected_even + expected_odd);
  EXPECT_EQ(day.total.requests, kLines + 1);
}

TEST_F(LedgerReplayerTest, AMissingFileIsAnEmptyLedger) {
  core::MemoryCounterStore store(0ms);
  core::SpendStats stats;
  const auto result = LedgerReplayer(store, stats, logger()).replay(path_.string(), rules_, now_);
  EXPECT_EQ(result.lines, 0u);
  EXPECT_EQ(result.records, 0u);
  EXPECT_EQ(store.entryCountForTest(), 0u);
}

// A reload adds `day-cap` and renames `per-key` to `per-key-v2` at T (docs/ledger.md, "Reload").
TEST_F(LedgerReplayerTest, ReloadSeedsOnlyTheNewCountersWithRequestsAdmittedBeforeTheReload) {
  core::Rules next = rules_;
  next.budgets[1].name = "per-key-v2";
  core::BudgetRule day_cap = rules_.budgets[0];
  day_cap.name = "day-cap";
  day_cap.limit = 20 * kUsd;
  next.budgets.push_back(day_cap);
  const auto reloaded_at = now_ - 10min;

  const auto record = [&](std::chrono::system_clock::time_point ts, core::Picodollars cost,
                          std::string key, double upstream_ms) {
    core::LedgerEntry e = entry(ts, cost, std::move(key));
    e.upstream_ms = upstream_ms;
    return e;
  };
  const core::LedgerEntry a = record(reloaded_at - 1h, 1 * kUsd, "even", 900);
  const core::LedgerEntry b = record(reloaded_at - 20min, 2 * kUsd, "odd", 900);
  // Admitted before the reload, settled 2 s after it: in flight across it.
  const core::LedgerEntry c = record(reloaded_at + 2s, 4 * kUsd, "even", 5000);
  // Admitted after the reload (its upstream call began 1 s after it): charged live by its plan.
  const core::LedgerEntry d = record(reloaded_at + 3s, 8 * kUsd, "even", 2000);
  const core::LedgerEntry yesterday = record(now_ - 30h, 16 * kUsd, "even", 900);
  {
    std::ofstream out(path_);
    for (const auto* e : {&yesterday, &a, &b, &c, &d}) out << core::toJsonLine(*e);
  }

  // What the live requests did: a and b settled under the old rules before the reload; c
  // settled under them after it; d was admitted under the new rules.
  core::MemoryCounterStore store(0ms);
  const core::LedgerReplayPlanner old_plans(rules_, now_);
  const core::LedgerReplayPlanner new_plans(next, now_);
  store.addSettled(old_plans.charges(a).reconciliation);
  store.addSettled(old_plans.charges(b).reconciliation);
  const auto existing = store.budgetCounterKeys(reloaded_at);
  store.addSettled(old_plans.charges(c).reconciliation);
  store.addSettled(new_plans.charges(d).reconciliation);

  core::SpendStats stats;
  LedgerReplayer replayer(store, stats, logger());
  const LedgerReplayer::SeedResult result =
      replayer.seed(path_.string(), next, reloaded_at, existing, now_);

  EXPECT_EQ(result.records, 3u);   // a, b, c
  EXPECT_EQ(result.counters, 3u);  // day-cap, per-key-v2 even and odd
  EXPECT_EQ(result.cost, 7 * kUsd);
  // New counters: the whole day (a + b + c seeded, d live), each request once.
  EXPECT_EQ(spent(store, "day-cap", ""), 15 * kUsd);
  EXPECT_EQ(spent(store, "per-key-v2", "even"), 13 * kUsd);
  EXPECT_EQ(spent(store, "per-key-v2", "odd"), 2 * kUsd);
  // Counters that existed were charged live and are not counted twice.
  EXPECT_EQ(spent(store, "org-daily", ""), 15 * kUsd);
  EXPECT_EQ(spent(store, "per-key", "even"), 5 * kUsd);
  EXPECT_EQ(spent(store, "per-key", "odd"), 2 * kUsd);
  // The automatic stop's spend and the statistics were never reset: not replayed.
  core::Picodollars period_spend = -1;
  store.spend(core::spendCounterKey(core::Period::Day, now_),
              [&](auto total) { period_spend = *total.value; });
  EXPECT_EQ(period_spend, 15 * kUsd);
  EXPECT_EQ(stats.report(core::Dimension::Key, core::Period::Day, now_).total.requests, 0);
}

TEST_F(LedgerReplayerTest, ReloadSeedsNothingWhenEveryCounterExisted) {
  {
    std::ofstream out(path_);
    out << core::toJsonLine(entry(now_ - 1h, 1 * kUsd, "even"));
  }
  core::MemoryCounterStore store(0ms);
  store.addSettled(core::LedgerReplayPlanner(rules_, now_)
                       .charges(entry(now_ - 1h, 1 * kUsd, "even"))
                       .reconciliation);
  core::SpendStats stats;
  LedgerReplayer replayer(store, stats, logger());
  const auto result =
      replayer.seed(path_.string(), rules_, now_, store.budgetCounterKeys(now_), now_);
  EXPECT_EQ(result.records, 0u);
  EXPECT_EQ(spent(store, "org-daily", ""), 1 * kUsd);
  EXPECT_EQ(spent(store, "per-key", "even"), 1 * kUsd);
}

}  // namespace
}  // namespace spendgate::proxy
