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

TEST(MemoryCounterStore, EmergencyStopListenerHearsOnlyChangesWithoutTheLock) {
  MemoryCounterStore store;
  int calls = 0;
  EmergencyStopState seen;
  store.setEmergencyStopListener([&] {
    ++calls;
    // The store's lock is not held: reading the state back must not deadlock.
    store.emergencyStop([&](auto state) { seen = *state.value; });
  });
  const auto now = utc(2026, 1, 1);
  const auto on = manualStop(EmergencyStopState{}, "incident", 1h, now);
  store.setEmergencyStop(on, [](auto) {});
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(seen, on);
  store.setEmergencyStop(on, [](auto) {});  // the same state: no change
  EXPECT_EQ(calls, 1);
  const auto off = expireEmergencyStop(on, now + 2h);
  store.replaceEmergencyStop(EmergencyStopState{}, off, [](auto) {});  // not what is held
  EXPECT_EQ(calls, 1);
  store.replaceEmergencyStop(on, off, [](auto) {});
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(seen, off);
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

// Admission charges the rate states and budget counters its checks read without looking them up
// again: live ones, ones this admission makes, ones past their keep time (forgotten by the check,
// then made anew), a soft budget (not checked) beside hard ones, and two callers whose per-user
// states and counters differ while the per-key ones are shared.
TEST(MemoryCounterStore, AdmissionChargesWhatItsChecksRead) {
  MemoryCounterStore store(0ms);
  StoreDriver driver(store);
  Rules rules;
  BudgetRule soft = hardBudget("soft", kUsd, Scope::User);
  soft.mode = BudgetMode::Soft;
  rules.budgets = {hardBudget("day", 100 * kUsd), soft,
                   hardBudget("minute", 10 * kUsd, Scope::User, Period::Minute)};
  rules.rate_limits = {rateLimit("per-key", 100, 0, 0, Scope::Key),
                       rateLimit("per-user", 10, 0, 0, Scope::User)};
  const auto t0 = utc(2026, 1, 1, 10);
  const auto admit = [&](const std::string& user, const std::string& id,
                         std::chrono::system_clock::time_point now) {
    const AdmissionResult r = driver.admit(plan(rules, caller(user), kUsd, 0, now), id, now + 1min);
    EXPECT_TRUE(r.allowed()) << id;
    return r.rate_limits.requests ? r.rate_limits.requests->remaining : 9999u;
  };
  EXPECT_EQ(admit("alice", "a1", t0), 9u);  // the fewest remaining: alice's per-user limit
  EXPECT_EQ(admit("alice", "a2", t0), 8u);
  EXPECT_EQ(admit("bob", "b1", t0), 9u);
  EXPECT_EQ(driver.counter("day", "", t0).reserved, 3 * kUsd);
  EXPECT_EQ(driver.counter("minute", "alice", t0).reserved, 2 * kUsd);
  EXPECT_EQ(driver.counter("minute", "bob", t0).reserved, kUsd);
  EXPECT_EQ(driver.counter("soft", "alice", t0).reserved, 0);
  for (const char* id : {"a1", "a2", "b1"}) driver.settle(id, kUsd / 2, 0, t0);
  EXPECT_EQ(admit("alice", "a3", t0), 7u);
  EXPECT_EQ(driver.counter("day", "", t0).spent, 3 * kUsd / 2);
  EXPECT_EQ(driver.counter("day", "", t0).reserved, kUsd);
  EXPECT_EQ(driver.counter("minute", "alice", t0).reserved, kUsd);
  EXPECT_EQ(driver.counter("soft", "alice", t0).spent, kUsd);
  driver.settle("a3", kUsd / 2, 0, t0);
  // Past every rate state's keep time and into another minute: states and the minute counters
  // are made anew; the day counter goes on.
  const auto t1 = t0 + 10min;
  EXPECT_EQ(admit("bob", "b2", t1), 9u);
  EXPECT_EQ(admit("bob", "b3", t1), 8u);
  EXPECT_EQ(admit("alice", "a4", t1), 9u);
  EXPECT_EQ(driver.counter("day", "", t1).spent, 2 * kUsd);
  EXPECT_EQ(driver.counter("day", "", t1).reserved, 3 * kUsd);
  EXPECT_EQ(driver.counter("minute", "bob", t1).reserved, 2 * kUsd);
  EXPECT_EQ(driver.counter("minute", "bob", t1).spent, 0);
  EXPECT_EQ(driver.counter("minute", "alice", t1).reserved, kUsd);
}

// The enforcer settles through CounterStore::settleAtOnce: the memory store answers there, as its
// settleNow does, for a reservation, a repeated settle and an unknown one.
TEST(MemoryCounterStore, SettleAtOnceThroughTheInterfaceIsSettleNow) {
  Rules rules;
  rules.budgets = {hardBudget("g", 1000 * kUsd), hardBudget("per-user", 10 * kUsd, Scope::User)};
  MemoryCounterStore expected_store;
  MemoryCounterStore store;
  CounterStore& through = store;
  const auto t0 = utc(2026, 1, 1, 10);
  const EnforcementPlan p = plan(rules, caller("bob"), kUsd / 10, 0, t0);
  ASSERT_TRUE(expected_store.admitNow(p, "a", t0 + 10min).allowed());
  ASSERT_TRUE(through.admitAtOnce(p, "a", t0 + 10min)->allowed());
  for (const char* id : {"a", "a", "zzz"}) {
    const Settlement settlement{id, kUsd / 20, 7, t0 + 1s};
    const StoreResult<SettleResult> expected = expected_store.settleNow(settlement);
    SettleResult got;
    ASSERT_TRUE(through.settleAtOnce(settlement, got));
    ASSERT_TRUE(expected.ok());
    EXPECT_EQ(got.outcome, expected.value->outcome) << id;
    EXPECT_EQ(got.budgets, expected.value->budgets) << id;
    EXPECT_EQ(got.period_spend, expected.value->period_spend) << id;
  }
  EXPECT_EQ(StoreDriver(store).counter("g", "", t0 + 1s).spent, kUsd / 20);
}

// Settling into one reused SettleResult (as the enforcer does per thread) must answer exactly
// what a fresh settle answers, whatever the previous one left in it: more or fewer budgets, a
// period spend or none, an unknown or repeated reservation.
TEST(MemoryCounterStore, SettlingIntoAReusedResultAnswersAsAFreshOne) {
  Rules rules;
  rules.budgets = {hardBudget("g", 1000 * kUsd), hardBudget("per-user", 10 * kUsd, Scope::User),
                   hardBudget("bob-only", 5 * kUsd, Scope::User)};
  rules.budgets[2].match = {{Dimension::User, "bob"}};
  rules.emergency_stop.auto_stop = EmergencyStopRule::Auto{500 * kUsd, Period::Month, {}};
  Rules narrow;
  narrow.budgets = {hardBudget("g", 1000 * kUsd)};
  MemoryCounterStore fresh_store;  // keeps settled records: a second settle is AlreadySettled
  MemoryCounterStore reused_store;
  SettleResult reused;
  const auto t0 = utc(2026, 1, 1, 10);
  struct Step {
    const Rules* rules;
    std::string user;
    std::string id;
    bool admit;
  };
  const Step steps[] = {
      {&rules, "bob", "a", true},   {&narrow, "alice", "b", true}, {&rules, "alice", "c", true},
      {&rules, "bob", "a", false},  {&rules, "bob", "zzz", false}, {&narrow, "bob", "d", true},
      {&rules, "carol", "e", true},
  };
  for (const Step& step : steps) {
    const EnforcementPlan p = plan(*step.rules, caller(step.user), kUsd / 10, 0, t0);
    if (step.admit) {
      ASSERT_TRUE(fresh_store.admitNow(p, step.id, t0 + 10min).allowed());
      ASSERT_TRUE(reused_store.admitNow(p, step.id, t0 + 10min).allowed());
    }
    const Settlement settlement{step.id, kUsd / 20, 7, t0 + 1s};
    const StoreResult<SettleResult> expected = fresh_store.settleNow(settlement);
    reused_store.settleNow(settlement, reused);
    ASSERT_TRUE(expected.ok());
    EXPECT_EQ(reused.outcome, expected.value->outcome) << step.id;
    EXPECT_EQ(reused.budgets, expected.value->budgets) << step.id;
    EXPECT_EQ(reused.period_spend, expected.value->period_spend) << step.id;
  }
}

// The ledger replay adds settled costs without reservations: the counters must be exactly those
// admit + settle leave (same keys, periods, metadata, spent), and a hard budget the replay filled
// must refuse afterwards.
TEST(MemoryCounterStore, AddSettledLeavesTheCountersAdmitAndSettleLeave) {
  Rules rules;
  rules.budgets = {hardBudget("org-daily", 10 * kUsd), hardBudget("per-key", 4 * kUsd, Scope::Key),
                   hardBudget("team-month", 100 * kUsd, Scope::Team, Period::Month)};
  rules.budgets.back().mode = BudgetMode::Soft;
  rules.emergency_stop.auto_stop = EmergencyStopRule::Auto{50 * kUsd, Period::Day};
  const auto now = utc(2026, 11, 23, 12);

  MemoryCounterStore live(0ms);
  MemoryCounterStore replayed(0ms);
  StoreDriver live_driver(live);
  StoreDriver replay_driver(replayed);
  const Picodollars costs[] = {kUsd, 1'234'567'890'123, 0, 2 * kUsd};
  int i = 0;
  for (const Picodollars cost : costs) {
    const auto at = now + std::chrono::minutes(i);
    const std::string id = "r" + std::to_string(i++);
    const EnforcementPlan p = plan(rules, caller(), kUsd / 2, 10, at);
    ASSERT_TRUE(live_driver.admit(p, id, at + 10min).allowed());
    live_driver.settle(id, cost, 10, at);
    const ReconcileResult added =
        replayed.addSettled(Reconciliation::of(p, Settlement{id, cost, 10, at}));
    EXPECT_EQ(added.outcome, ReconcileOutcome::Added);
    ASSERT_EQ(added.budgets.size(), 3u);
    EXPECT_EQ(added.period_spend, live_driver.spend(p.spend->key));
  }
  const auto later = now + 1h;
  EXPECT_EQ(replay_driver.budgets(later), live_driver.budgets(later));
  const std::string spend_key = spendCounterKey(Period::Day, now);
  EXPECT_EQ(replay_driver.spend(spend_key), live_driver.spend(spend_key));
  EXPECT_EQ(replay_driver.counter("per-key", "search-team", later).spent,
            3 * kUsd + 1'234'567'890'123);

  // per-key has 4 USD, 3.23... spent: a 1 USD worst case no longer fits, in either store.
  const EnforcementPlan next = plan(rules, caller(), kUsd, 10, later);
  EXPECT_EQ(replay_driver.admit(next, "next", later + 10min).status,
            AdmissionResult::Status::Denied);
  EXPECT_EQ(live_driver.admit(next, "next", later + 10min).status, AdmissionResult::Status::Denied);
}

TEST(MemoryCounterStore, AddSettledMayPassAHardLimitAndNeverTouchesRateLimits) {
  Rules rules;
  rules.budgets = {hardBudget("small", kUsd)};
  rules.rate_limits = {rateLimit("one-a-minute", 1)};
  const auto now = utc(2026, 11, 23, 12);
  MemoryCounterStore store(0ms);
  StoreDriver driver(store);
  const EnforcementPlan p = plan(rules, caller(), 0, 0, now);
  // A record whose real cost was above its worst case (it settled, so it counts in full).
  store.addSettled(Reconciliation::of(p, Settlement{"big", 3 * kUsd, 0, now}));
  EXPECT_EQ(driver.counter("small", "", now).spent, 3 * kUsd);
  EXPECT_EQ(driver.counter("small", "", now).reserved, 0);
  // Refused by the budget, not by the rate limit: the replay charged no request to it.
  const AdmissionResult refused = driver.admit(plan(rules, caller(), 1, 0, now), "x", now + 1min);
  ASSERT_TRUE(refused.denial);
  EXPECT_EQ(refused.denial->reason, DenialReason::Budget);
  Rules rate_only;
  rate_only.rate_limits = rules.rate_limits;
  EXPECT_TRUE(driver.admit(plan(rate_only, caller(), 1, 0, now), "y", now + 1min).allowed());
}

}  // namespace
}  // namespace spendgate::core::testing
