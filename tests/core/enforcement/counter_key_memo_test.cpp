#include "core/enforcement/counter_key_memo.hpp"

#include <gtest/gtest.h>

#include "core/enforcement/planner.hpp"
#include "tests/core/manual_clock.hpp"

namespace spendgate::core {
namespace {

using testing::utc;

TEST(CounterKeyMemo, GivesTheKeysThePlannerBuilds) {
  CounterKeyMemo memo;
  const auto day = utc(2026, 11, 24);
  EXPECT_EQ(memo.rateLimitKey(0, "per-key", "fp_1:2"), rateLimitKey("per-key", "fp_1:2"));
  EXPECT_EQ(memo.budgetCounterKey(0, "global", "", day), budgetCounterKey("global", "", day));
}

TEST(CounterKeyMemo, RebuildsWhenAnyPartChanges) {
  CounterKeyMemo memo;
  const auto day = utc(2026, 11, 24);
  const auto next = utc(2026, 11, 25);
  EXPECT_EQ(memo.rateLimitKey(1, "a", "x"), "rate:a:x");
  EXPECT_EQ(memo.rateLimitKey(1, "a", "x"), "rate:a:x");
  EXPECT_EQ(memo.rateLimitKey(1, "a", "y"), "rate:a:y");
  EXPECT_EQ(memo.rateLimitKey(1, "b", "y"), "rate:b:y");
  EXPECT_EQ(memo.rateLimitKey(0, "c", "z"), "rate:c:z");
  EXPECT_EQ(memo.rateLimitKey(1, "b", "y"), "rate:b:y");
  EXPECT_EQ(memo.budgetCounterKey(0, "g", "s", day), budgetCounterKey("g", "s", day));
  EXPECT_EQ(memo.budgetCounterKey(0, "g", "s", next), budgetCounterKey("g", "s", next));
  EXPECT_EQ(memo.budgetCounterKey(0, "g", "t", next), budgetCounterKey("g", "t", next));
}

TEST(CounterKeyMemo, PlansTheSameWithAndWithout) {
  Rules rules;
  RateLimitRule rate;
  rate.name = "per-key";
  rate.scope = Scope::Key;
  rate.requests_per_minute = 10;
  rules.rate_limits.push_back(rate);
  BudgetRule budget;
  budget.name = "per-user";
  budget.scope = Scope::User;
  budget.period = Period::Day;
  budget.limit = 1000;
  rules.budgets.push_back(budget);
  CounterKeyMemo memo;
  for (const char* user : {"alice", "alice", "bob", "alice"}) {
    RequestAttributes attributes;
    attributes.key = std::string("key-") + user;
    attributes.user = user;
    const auto now = utc(2026, 11, 24);
    const EnforcementPlan with = plan(rules, attributes, 5, 7, now, Spending::Priced, {}, &memo);
    const EnforcementPlan without = plan(rules, attributes, 5, 7, now);
    ASSERT_EQ(with.rate_limits.size(), 1u);
    ASSERT_EQ(with.budgets.size(), 1u);
    EXPECT_EQ(with.rate_limits[0].key, without.rate_limits[0].key);
    EXPECT_EQ(with.budgets[0].counter_key, without.budgets[0].counter_key);
  }
}

}  // namespace
}  // namespace spendgate::core
