// listBudgets: the budget list of /admin/budgets and the budget metrics, against both stores
// (the Redis one skipped when redis-server is not installed).

#include "core/store/budget_listing.hpp"

#include <gtest/gtest.h>

#include "tests/core/store/store_test_support.hpp"

namespace spendgate::core::testing {
namespace {

using namespace std::chrono_literals;

BudgetRule keyBudget(std::string name, Picodollars limit, std::vector<MatchClause> match = {}) {
  BudgetRule rule = hardBudget(std::move(name), limit, Scope::Key);
  rule.match = std::move(match);
  return rule;
}

std::vector<std::pair<std::string, std::string>> namesOf(const std::vector<BudgetSnapshot>& rows) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& row : rows) out.emplace_back(row.name, row.subject);
  return out;
}

TEST(ConfiguredSubject, KnownOnlyWhenTheConfigFixesTheScopesDimension) {
  EXPECT_EQ(configuredSubject(hardBudget("g", kUsd)), "");
  BudgetRule global_filtered = hardBudget("g", kUsd);
  global_filtered.match = {{Dimension::Model, "gpt-4o*"}};
  EXPECT_EQ(configuredSubject(global_filtered), "");

  EXPECT_EQ(configuredSubject(keyBudget("k", kUsd)), std::nullopt);
  EXPECT_EQ(configuredSubject(keyBudget("k", kUsd, {{Dimension::Key, "k2"}})), "k2");
  EXPECT_EQ(configuredSubject(keyBudget("k", kUsd, {{Dimension::Key, "k*"}})), std::nullopt);
  EXPECT_EQ(configuredSubject(keyBudget("k", kUsd, {{Dimension::Key, "k?"}})), std::nullopt);
  // A literal on another dimension does not fix the key.
  EXPECT_EQ(configuredSubject(keyBudget("k", kUsd, {{Dimension::Team, "search"}})), std::nullopt);
  EXPECT_EQ(configuredSubject(
                keyBudget("k", kUsd, {{Dimension::Team, "search"}, {Dimension::Key, "k2"}})),
            "k2");
  // A glob that admits the literal changes nothing; one that refuses it leaves no subject.
  EXPECT_EQ(
      configuredSubject(keyBudget("k", kUsd, {{Dimension::Key, "k*"}, {Dimension::Key, "k2"}})),
      "k2");
  EXPECT_EQ(
      configuredSubject(keyBudget("k", kUsd, {{Dimension::Key, "k2"}, {Dimension::Key, "k3"}})),
      std::nullopt);
  // Requests without a key share the "-" counter.
  EXPECT_EQ(configuredSubject(keyBudget("k", kUsd, {{Dimension::Key, ""}})),
            std::string(kMissingSubject));
}

class BudgetListing : public ::testing::TestWithParam<std::string> {
protected:
  void SetUp() override {
    store_ = makeStore(GetParam());
    if (!store_) GTEST_SKIP() << "redis-server not available";
    driver_ = std::make_unique<StoreDriver>(*store_);
    rules_.budgets = {hardBudget("org-daily", 500 * kUsd),
                      keyBudget("k2-monthly", 50 * kUsd, {{Dimension::Key, "k2"}}),
                      keyBudget("per-key", 10 * kUsd)};
    rules_.budgets[1].period = Period::Month;
  }

  std::chrono::system_clock::time_point now() const { return clock_.now(); }

  /** One request from key `key` costing `cost`, admitted and settled. */
  EnforcementPlan charge(CounterStore& store,
                         const std::string& id,
                         std::string key,
                         Picodollars cost) {
    RequestAttributes a = caller();
    a.key = std::move(key);
    const EnforcementPlan p = plan(rules_, a, cost, 0, now());
    StoreDriver driver(store);
    EXPECT_TRUE(driver.admit(p, id, now() + 10min).allowed());
    driver.settle(id, cost, 0, now());
    return p;
  }

  std::vector<BudgetSnapshot> list(CounterStore& store) {
    return listBudgets(rules_.budgets, StoreDriver(store).budgets(now()), now());
  }

  ManualClock clock_{utc(2026, 3, 10, 12, 0, 0)};
  Rules rules_;
  std::shared_ptr<CounterStore> store_;
  std::unique_ptr<StoreDriver> driver_;
};

TEST_P(BudgetListing, BudgetsWithAConfiguredSubjectShowBeforeTheirFirstRequest) {
  const auto rows = list(*store_);
  ASSERT_EQ(namesOf(rows), (std::vector<std::pair<std::string, std::string>>{{"k2-monthly", "k2"},
                                                                             {"org-daily", ""}}));
  const BudgetSnapshot& k2 = rows[0];
  EXPECT_EQ(k2.scope, Scope::Key);
  EXPECT_EQ(k2.period, Period::Month);
  EXPECT_EQ(k2.window, (PeriodWindow{utc(2026, 3, 1, 0, 0, 0), utc(2026, 4, 1, 0, 0, 0)}));
  EXPECT_EQ(k2.limit, 50 * kUsd);
  EXPECT_EQ(k2.spent, 0);
  EXPECT_EQ(k2.reserved, 0);
  EXPECT_EQ(k2.mode, BudgetMode::Hard);
  const BudgetSnapshot& org = rows[1];
  EXPECT_EQ(org.scope, Scope::Global);
  EXPECT_EQ(org.window, (PeriodWindow{utc(2026, 3, 10, 0, 0, 0), utc(2026, 3, 11, 0, 0, 0)}));
  EXPECT_EQ(org.limit, 500 * kUsd);
  EXPECT_EQ(org.spent, 0);

  // A new period: the zero rows move with it.
  clock_.set(utc(2026, 4, 2, 8, 0, 0));
  const auto later = list(*store_);
  ASSERT_EQ(later.size(), 2u);
  EXPECT_EQ(later[0].window.start, utc(2026, 4, 1, 0, 0, 0));
  EXPECT_EQ(later[1].window.start, utc(2026, 4, 2, 0, 0, 0));
}

TEST_P(BudgetListing, ACounterReplacesItsZeroRowAndOpenSubjectsAppearOnceUsed) {
  const auto seeded = list(*store_);
  const EnforcementPlan p = charge(*store_, "r1", "k2", 2 * kUsd);
  ASSERT_EQ(p.budgets.size(), 3u);  // org-daily, k2-monthly, per-key:k2
  // The zero rows are named as the planner names the counters a request charges.
  EXPECT_EQ(seeded[0].counter_key, p.budgets[1].counter_key);
  EXPECT_EQ(seeded[1].counter_key, p.budgets[0].counter_key);

  const auto rows = list(*store_);
  ASSERT_EQ(namesOf(rows), (std::vector<std::pair<std::string, std::string>>{
                               {"k2-monthly", "k2"}, {"org-daily", ""}, {"per-key", "k2"}}));
  for (const auto& row : rows) EXPECT_EQ(row.spent, 2 * kUsd) << row.name;

  charge(*store_, "r2", "k3", kUsd);  // k3 charges org-daily and per-key, not k2-monthly
  const auto more = list(*store_);
  ASSERT_EQ(namesOf(more),
            (std::vector<std::pair<std::string, std::string>>{
                {"k2-monthly", "k2"}, {"org-daily", ""}, {"per-key", "k2"}, {"per-key", "k3"}}));
  EXPECT_EQ(more[0].spent, 2 * kUsd);
  EXPECT_EQ(more[1].spent, 3 * kUsd);
}

TEST_P(BudgetListing, AReloadThatRemovesOrChangesABudgetDropsItsCounter) {
  charge(*store_, "r1", "k2", 2 * kUsd);
  // Reload: per-key removed, org-daily becomes weekly with a new limit, k2-monthly a new limit.
  rules_.budgets = {hardBudget("org-daily", 900 * kUsd, Scope::Global, Period::Week),
                    keyBudget("k2-monthly", 70 * kUsd, {{Dimension::Key, "k2"}})};
  rules_.budgets[1].period = Period::Month;
  rules_.budgets[1].mode = BudgetMode::Soft;
  const auto rows = list(*store_);
  ASSERT_EQ(namesOf(rows), (std::vector<std::pair<std::string, std::string>>{{"k2-monthly", "k2"},
                                                                             {"org-daily", ""}}));
  // The kept counter keeps its spend and shows the limit and mode in force.
  EXPECT_EQ(rows[0].spent, 2 * kUsd);
  EXPECT_EQ(rows[0].limit, 70 * kUsd);
  EXPECT_EQ(rows[0].mode, BudgetMode::Soft);
  // The daily counter is not the weekly budget's: a zero row in the week's window instead.
  EXPECT_EQ(rows[1].period, Period::Week);
  EXPECT_EQ(rows[1].spent, 0);
  EXPECT_EQ(rows[1].limit, 900 * kUsd);
  EXPECT_EQ(rows[1].window.start, utc(2026, 3, 9, 0, 0, 0));  // Monday

  rules_.budgets.clear();
  EXPECT_TRUE(list(*store_).empty());
}

INSTANTIATE_TEST_SUITE_P(Stores,
                         BudgetListing,
                         ::testing::Values("memory", "redis"),
                         [](const auto& info) { return info.param; });

/** Two instances on one Redis: the zero row of one is replaced by what the other spent. */
TEST(BudgetListingShared, ASeededBudgetShowsWhatAnotherInstanceSpent) {
  RedisTestServer* server = sharedRedis();
  if (!server) GTEST_SKIP() << "redis-server not available";
  server->connect()->command({"FLUSHALL"});
  ScriptCounterStore a(*server, StoreKeys("shared:"));
  ScriptCounterStore b(*server, StoreKeys("shared:"));
  const auto now = utc(2026, 3, 10, 12, 0, 0);
  Rules rules;
  rules.budgets = {hardBudget("org-daily", 500 * kUsd)};
  ASSERT_EQ(listBudgets(rules.budgets, StoreDriver(b).budgets(now), now).at(0).spent, 0);

  StoreDriver on_a(a);
  const auto p = plan(rules, caller(), 3 * kUsd, 0, now);
  ASSERT_TRUE(on_a.admit(p, "r1", now + 10min).allowed());
  auto rows = listBudgets(rules.budgets, StoreDriver(b).budgets(now), now);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].reserved, 3 * kUsd);
  on_a.settle("r1", 2 * kUsd, 0, now);
  rows = listBudgets(rules.budgets, StoreDriver(b).budgets(now), now);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].spent, 2 * kUsd);
  EXPECT_EQ(rows[0].reserved, 0);
}

}  // namespace
}  // namespace spendgate::core::testing
