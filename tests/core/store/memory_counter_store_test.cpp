#include "core/store/memory_counter_store.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "tests/core/store/store_test_support.hpp"

namespace spendgate::core::testing {
namespace {

using namespace std::chrono_literals;

struct HammerResult {
  std::int64_t allowed = 0;
  std::int64_t violations = 0;  // snapshots with spent + reserved > limit
  std::int64_t snapshots = 0;
  BudgetSnapshot final_counter;
};

/**
 * `threads` x `per_thread` admits of one hard budget, each settled at once with a cost from
 * `settle_cost(worst, rng)`, while a monitor thread checks spent + reserved <= limit.
 */
template <typename WorstFn, typename CostFn>
HammerResult hammer(CounterStore& store,
                    Picodollars limit,
                    int threads,
                    int per_thread,
                    WorstFn worst_of,
                    CostFn cost_of) {
  Rules rules;
  rules.budgets = {hardBudget("shared", limit)};
  const auto now = utc(2026, 3, 10, 12);
  std::atomic<std::int64_t> allowed{0};
  std::atomic<bool> done{false};
  HammerResult result;
  std::thread monitor([&] {
    StoreDriver driver(store);
    while (!done.load()) {
      const BudgetSnapshot c = driver.counter("shared", "", now);
      if (saturatingAdd(c.spent, c.reserved) > c.limit && c.limit > 0) ++result.violations;
      ++result.snapshots;
    }
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<std::uint64_t>(t) + 1);
      StoreDriver driver(store);
      for (int i = 0; i < per_thread; ++i) {
        const Picodollars worst = worst_of(rng);
        const std::string id = std::to_string(t) + ":" + std::to_string(i);
        const EnforcementPlan p = plan(rules, caller(), worst, 0, now);
        if (driver.admit(p, id, now + 10min).allowed()) {
          ++allowed;
          driver.settle(id, cost_of(worst, rng), 0, now);
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  done = true;
  monitor.join();
  result.allowed = allowed.load();
  result.final_counter = StoreDriver(store).counter("shared", "", now);
  return result;
}

TEST(MemoryCounterStore, EightThreadsNeverOvershootAndUseTheBudgetExactly) {
  MemoryCounterStore store;
  const Picodollars worst = kUsd / 3;  // not a divisor of the limit
  const Picodollars limit = 1000 * kUsd;
  const HammerResult r = hammer(
      store, limit, 8, 10000, [&](auto&) { return worst; }, [](Picodollars w, auto&) { return w; });
  EXPECT_EQ(r.violations, 0);
  EXPECT_GT(r.snapshots, 0);
  // Each success holds exactly `worst` of spent + reserved, so exactly floor(limit / worst) pass.
  EXPECT_EQ(r.allowed, limit / worst);
  EXPECT_EQ(r.final_counter.reserved, 0);
  EXPECT_EQ(r.final_counter.spent, r.allowed * worst);
  EXPECT_LT(limit - r.final_counter.spent, worst);  // used to within one worst case
}

TEST(MemoryCounterStore, EightThreadsWithVaryingCostsNeverOvershoot) {
  MemoryCounterStore store;
  const Picodollars limit = 500 * kUsd;
  const HammerResult r = hammer(
      store, limit, 8, 10000,
      [](std::mt19937_64& rng) { return kUsd / 2 + static_cast<Picodollars>(rng() % (kUsd / 2)); },
      [](Picodollars w, std::mt19937_64& rng) {
        return w / 2 + static_cast<Picodollars>(rng() % static_cast<std::uint64_t>(w / 2));
      });
  EXPECT_EQ(r.violations, 0);
  EXPECT_EQ(r.final_counter.reserved, 0);
  EXPECT_LE(r.final_counter.spent, limit);
  EXPECT_LT(limit - r.final_counter.spent, kUsd);  // the largest worst case
  EXPECT_GT(r.allowed, 500);
}

TEST(MemoryCounterStore, CallbackRunsInlineWithoutTheLock) {
  MemoryCounterStore store;
  Rules rules;
  rules.budgets = {hardBudget("b", kUsd)};
  const auto now = utc(2026, 1, 1);
  bool inner_ran = false;
  store.admit(plan(rules, caller(), 1, 0, now), "outer", now + 1min, [&](AdmissionResult r) {
    EXPECT_TRUE(r.allowed());
    // Re-entering the store from the callback must not deadlock.
    store.settle(Settlement{"outer", 1, 0, now}, [&](auto s) { inner_ran = s.ok(); });
  });
  EXPECT_TRUE(inner_ran);
}

TEST(MemoryCounterStore, ManyExpiriesAtOnceAreReleasedWithinAFewCalls) {
  MemoryCounterStore store;
  StoreDriver driver(store);
  Rules rules;
  rules.budgets = {hardBudget("b", 1000 * kUsd)};
  const auto t0 = utc(2026, 1, 1, 10);
  for (int i = 0; i < 600; ++i) {
    ASSERT_TRUE(driver.admit(plan(rules, caller(), kUsd, 0, t0), "r" + std::to_string(i), t0 + 1min)
                    .allowed());
  }
  // The sweep releases at most kExpirySweepLimit per call: conservative, never too generous.
  const auto later = t0 + 2min;
  EXPECT_EQ(driver.counter("b", "", later).reserved, (600 - 256) * kUsd);
  EXPECT_EQ(driver.counter("b", "", later).reserved, (600 - 512) * kUsd);
  EXPECT_EQ(driver.counter("b", "", later).reserved, 0);
}

TEST(MemoryCounterStore, ForgetsOldPeriodsAndRecords) {
  MemoryCounterStore store;
  StoreDriver driver(store);
  Rules rules;
  rules.budgets = {hardBudget("m", kUsd, Scope::User, Period::Minute)};
  rules.rate_limits = {rateLimit("r", 100, 0, 0, Scope::User)};
  const auto t0 = utc(2026, 1, 1, 10);
  for (int i = 0; i < 50; ++i) {
    const std::string id = "u" + std::to_string(i);
    ASSERT_TRUE(driver.admit(plan(rules, caller(id), 1, 0, t0), id, t0 + 1min).allowed());
    driver.settle(id, 1, 0, t0);
  }
  EXPECT_EQ(store.entryCountForTest(), 150u);  // 50 counters, 50 rate states, 50 records
  // Well after the retention of records and counters, one call reclaims everything else.
  const auto later = t0 + kReservationRecordRetention + 10min;
  ASSERT_TRUE(driver.admit(plan(rules, caller("new"), 1, 0, later), "new", later + 1min).allowed());
  EXPECT_EQ(store.entryCountForTest(), 3u);
  EXPECT_EQ(driver.settle("u1", 1, 0, later).outcome, SettleOutcome::UnknownReservation);
}

TEST(MemoryCounterStore, WithoutRetentionASettledReservationIsForgottenAtOnce) {
  MemoryCounterStore store(0ms);
  StoreDriver driver(store);
  Rules rules;
  rules.budgets = {hardBudget("g", 1000 * kUsd)};
  rules.rate_limits = {rateLimit("r", 1'000'000, 0, 0, Scope::Key)};
  const auto t0 = utc(2026, 1, 1, 10);
  for (int i = 0; i < 5000; ++i) {
    const std::string id = "req" + std::to_string(i);
    ASSERT_TRUE(driver.admit(plan(rules, caller(), kUsd / 100, 0, t0), id, t0 + 10min).allowed());
    EXPECT_EQ(driver.settle(id, kUsd / 1000, 0, t0).outcome, SettleOutcome::Settled);
  }
  // One budget counter and one rate state: no record per request is left behind.
  EXPECT_EQ(store.entryCountForTest(), 2u);
  const auto counter = driver.counter("g", "", t0);
  EXPECT_EQ(counter.spent, 5000 * (kUsd / 1000));
  EXPECT_EQ(counter.reserved, 0);
  // A repeated settle changes nothing.
  EXPECT_EQ(driver.settle("req1", kUsd, 0, t0).outcome, SettleOutcome::UnknownReservation);
  EXPECT_EQ(driver.counter("g", "", t0).spent, 5000 * (kUsd / 1000));
}

}  // namespace
}  // namespace spendgate::core::testing
