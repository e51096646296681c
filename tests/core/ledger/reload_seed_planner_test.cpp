#include "core/ledger/reload_seed_planner.hpp"

#include <gtest/gtest.h>

#include <string>

#include "tests/core/manual_clock.hpp"

namespace spendgate::core {
namespace {

using namespace std::chrono_literals;
using testing::utc;

BudgetRule budget(std::string name, Scope scope = Scope::Global) {
  BudgetRule rule;
  rule.name = std::move(name);
  rule.scope = scope;
  rule.limit = 10 * kPicodollarsPerUsd;
  return rule;
}

TEST(ReloadSeedPlannerTest, OnlyANewNameScopePeriodOrMatchCanBringCounters) {
  Rules before;
  before.budgets = {budget("org-daily"), budget("per-key", Scope::Key)};
  Rules after = before;
  after.budgets[0].limit *= 2;  // limit and mode keep the counter
  after.budgets[0].mode = BudgetMode::Soft;
  after.budgets.erase(after.budgets.begin() + 1);  // a removed budget brings nothing
  EXPECT_FALSE(ReloadSeedPlanner::mayBringCounters(before, after));

  Rules added = before;
  added.budgets.push_back(budget("day-cap"));
  EXPECT_TRUE(ReloadSeedPlanner::mayBringCounters(before, added));
  Rules renamed = before;
  renamed.budgets[1].name = "per-key-v2";
  EXPECT_TRUE(ReloadSeedPlanner::mayBringCounters(before, renamed));
  Rules rescoped = before;
  rescoped.budgets[0].scope = Scope::Team;
  EXPECT_TRUE(ReloadSeedPlanner::mayBringCounters(before, rescoped));
  Rules monthly = before;
  monthly.budgets[0].period = Period::Month;
  EXPECT_TRUE(ReloadSeedPlanner::mayBringCounters(before, monthly));
  Rules widened = before;
  widened.budgets[0].match = {MatchClause{Dimension::Model, "gpt-*"}};
  EXPECT_TRUE(ReloadSeedPlanner::mayBringCounters(before, widened));
}

TEST(ReloadSeedPlannerTest, AdmittedBeforeWhenTheUpstreamCallBeganBeforeWithRoundingSlack) {
  const auto reloaded_at = utc(2026, 11, 24, 12, 0, 0);
  LedgerEntry entry;
  entry.ts = reloaded_at + 3s;
  entry.upstream_ms = 4000;  // began 1 s before
  EXPECT_TRUE(ReloadSeedPlanner::admittedBefore(entry, reloaded_at));
  entry.upstream_ms = 3000;  // began at the reload, give or take the ledger's rounding
  EXPECT_FALSE(ReloadSeedPlanner::admittedBefore(entry, reloaded_at));
  entry.upstream_ms = 0;  // no upstream time: only a settle before counts
  entry.ts = reloaded_at - ReloadSeedPlanner::kRounding;
  EXPECT_TRUE(ReloadSeedPlanner::admittedBefore(entry, reloaded_at));
  entry.ts = reloaded_at - 1ms;
  EXPECT_FALSE(ReloadSeedPlanner::admittedBefore(entry, reloaded_at));
}

}  // namespace
}  // namespace spendgate::core
