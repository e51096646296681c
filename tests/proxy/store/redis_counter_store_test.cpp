// RedisCounterStore on real event loops against a real redis-server: the counter-store contract
// (compared with MemoryCounterStore), per-thread clients, concurrency across two stores, outages
// and timeouts.

#include "proxy/store/redis_counter_store.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <map>
#include <random>
#include <thread>

#include "core/enforcement/emergency_stop.hpp"
#include "core/store/lua_sources.hpp"
#include "proxy/logging/logger.hpp"
#include "proxy/store/counter_store_factory.hpp"
#include "proxy/store/leasing_counter_store.hpp"
#include "tests/core/store/store_test_support.hpp"
#include "tests/proxy/store/redis_server_fixture.hpp"
#include "tests/proxy/store/store_test_loops.hpp"

namespace spendgate::proxy {
namespace {

using namespace std::chrono_literals;
using core::AdmissionResult;
using core::Picodollars;
using core::testing::caller;
using core::testing::hardBudget;
using core::testing::kUsd;
using core::testing::rateLimit;
using core::testing::RespConnection;
using core::testing::StoreDriver;
using core::testing::utc;
using test::BlockingStore;
using test::eventually;
using test::LoopThreads;
using test::quietLogging;
using test::RedisServerFixture;
using Status = AdmissionResult::Status;

class RedisCounterStoreTest : public ::testing::Test {
protected:
  void SetUp() override {
    if (!RedisServerFixture::available()) GTEST_SKIP() << "redis-server is not installed";
    ASSERT_TRUE(server_.start()) << server_.lastError();
  }

  void TearDown() override {
    // Stores go before the loops they use.
    blocking_.clear();
    stores_.clear();
    if (loops_) loops_->stop();
  }

  /** Starts `loops` event loops and one store over them; waits until it is up. */
  std::shared_ptr<RedisCounterStore> makeStore(std::size_t loops = 2,
                                               RedisCounterStore::Options options = {}) {
    if (!loops_) loops_ = std::make_unique<LoopThreads>(loops);
    config::RedisConfig redis;
    redis.url = server_.url();
    auto store = RedisCounterStore::create(redis, loops_->pointers(), logger_, std::move(options));
    EXPECT_TRUE(eventually([&] { return store->up(); })) << "store never came up";
    stores_.push_back(store);
    return store;
  }

  /** A blocking view of `store` whose calls run on loop `loop`. */
  BlockingStore& blocking(const core::CounterStorePtr& store, std::size_t loop = 0) {
    blocking_.push_back(std::make_unique<BlockingStore>(store, (*loops_)[loop]));
    return *blocking_.back();
  }

  std::unique_ptr<RespConnection> raw() { return RespConnection::connect(server_.port()); }

  core::EnforcementPlan planFor(Picodollars worst, std::int64_t tokens = 0) {
    return core::plan(rules_, caller(), worst, tokens, clock_.now());
  }

  RedisServerFixture server_;
  Logger logger_{quietLogging()};
  std::unique_ptr<LoopThreads> loops_;
  std::vector<std::shared_ptr<RedisCounterStore>> stores_;
  std::vector<std::unique_ptr<BlockingStore>> blocking_;
  core::testing::ManualClock clock_{utc(2026, 3, 10, 12, 0, 0)};
  core::Rules rules_;
};

TEST(RedisReplyConversion, EveryTypeBecomesTheScriptValueCoreExpects) {
  const RedisReply reply = RedisReply::fromArray(
      {RedisReply::nil(), RedisReply::fromInteger(-7), RedisReply::fromString("bulk"),
       RedisReply::fromStatus("OK"), RedisReply::fromError("ERR x"),
       RedisReply::fromArray({RedisReply::fromString("nested")})});
  const core::ScriptValue v = toScriptValue(reply);
  ASSERT_EQ(v.type, core::ScriptValue::Type::Array);
  ASSERT_EQ(v.elements.size(), 6u);
  EXPECT_EQ(v.elements[0].type, core::ScriptValue::Type::Nil);
  EXPECT_EQ(v.elements[1].type, core::ScriptValue::Type::Integer);
  EXPECT_EQ(v.elements[1].integer, -7);
  EXPECT_EQ(v.elements[2].type, core::ScriptValue::Type::String);
  EXPECT_EQ(v.elements[2].str, "bulk");
  EXPECT_EQ(v.elements[3].type, core::ScriptValue::Type::String);
  EXPECT_EQ(v.elements[3].str, "OK");
  EXPECT_EQ(v.elements[4].type, core::ScriptValue::Type::Error);
  EXPECT_EQ(v.elements[4].str, "ERR x");
  ASSERT_EQ(v.elements[5].elements.size(), 1u);
  EXPECT_EQ(v.elements[5].elements[0].str, "nested");
}

TEST_F(RedisCounterStoreTest, FactoryMakesMemoryOrRedis) {
  loops_ = std::make_unique<LoopThreads>(1);
  config::StoreConfig memory;
  auto m = makeCounterStore(memory, loops_->pointers(), logger_);
  EXPECT_NE(dynamic_cast<core::MemoryCounterStore*>(m.get()), nullptr);
  config::StoreConfig redis;
  redis.kind = config::StoreConfig::Kind::Redis;
  redis.redis.url = server_.url();
  auto r = makeCounterStore(redis, loops_->pointers(), logger_);
  // Leases are on by default: the Redis store inside a LeasingCounterStore.
  ASSERT_NE(dynamic_cast<LeasingCounterStore*>(r.get()), nullptr);
  ASSERT_NE(redisStoreOf(r), nullptr);
  EXPECT_TRUE(eventually([&] { return r->up(); }));
  r.reset();
  redis.redis.leases = false;
  auto exact = makeCounterStore(redis, loops_->pointers(), logger_);
  EXPECT_NE(dynamic_cast<RedisCounterStore*>(exact.get()), nullptr);
  EXPECT_EQ(redisStoreOf(exact).get(), exact.get());
  EXPECT_EQ(redisStoreOf(m), nullptr);
  exact.reset();
}

TEST_F(RedisCounterStoreTest, EmbeddedScriptsAreTheFilesInTheTree) {
  using core::testing::readLuaScript;
  EXPECT_EQ(core::admitLuaSource(), readLuaScript("admit.lua"));
  EXPECT_EQ(core::settleLuaSource(), readLuaScript("settle.lua"));
  EXPECT_EQ(core::budgetsLuaSource(), readLuaScript("budgets.lua"));
  EXPECT_EQ(core::reconcileLuaSource(), readLuaScript("reconcile.lua"));
}

TEST_F(RedisCounterStoreTest, ReservesSettlesAndListsLikeTheContract) {
  auto store = makeStore();
  StoreDriver d(blocking(store, 1));
  rules_.budgets = {hardBudget("daily", 10 * kUsd)};
  const auto now = clock_.now();
  ASSERT_TRUE(d.admit(planFor(3 * kUsd), "r1", now + 10min).allowed());
  auto c = d.counter("daily", "", now);
  EXPECT_EQ(c.spent, 0);
  EXPECT_EQ(c.reserved, 3 * kUsd);
  EXPECT_EQ(c.limit, 10 * kUsd);
  EXPECT_EQ(c.window.start, utc(2026, 3, 10));

  const auto s = d.settle("r1", kUsd + 1, 0, now);
  EXPECT_EQ(s.outcome, core::SettleOutcome::Settled);
  ASSERT_EQ(s.budgets.size(), 1u);
  EXPECT_EQ(s.budgets[0].spent, kUsd + 1);
  EXPECT_EQ(s.budgets[0].reserved, 0);
  EXPECT_EQ(d.settle("r1", kUsd, 0, now).outcome, core::SettleOutcome::AlreadySettled);
  EXPECT_EQ(d.settle("never", kUsd, 0, now).outcome, core::SettleOutcome::UnknownReservation);
  EXPECT_EQ(d.counter("daily", "", now).spent, kUsd + 1);
}

TEST_F(RedisCounterStoreTest, HardBudgetAllOrNothingAndExactLimit) {
  auto store = makeStore();
  StoreDriver d(blocking(store));
  rules_.budgets = {hardBudget("org", 100 * kUsd), hardBudget("team", 5 * kUsd, core::Scope::Team)};
  rules_.rate_limits = {rateLimit("rpm", 100)};
  const auto now = clock_.now();
  ASSERT_TRUE(d.admit(planFor(4 * kUsd), "a", now + 1min).allowed());
  const auto org_before = d.counter("org", "", now);
  const AdmissionResult refused = d.admit(planFor(2 * kUsd), "b", now + 1min);
  ASSERT_EQ(refused.status, Status::Denied);
  EXPECT_EQ(refused.denial->reason, core::DenialReason::Budget);
  EXPECT_EQ(refused.denial->rule, "team");
  EXPECT_EQ(d.counter("org", "", now), org_before);  // nothing reserved on the other one
  const AdmissionResult exact = d.admit(planFor(kUsd), "c", now + 1min);  // 4 + 1 == 5
  ASSERT_TRUE(exact.allowed());
  ASSERT_TRUE(exact.rate_limits.requests);
  EXPECT_EQ(exact.rate_limits.requests->remaining, 98u);  // a and c; b charged nothing
  EXPECT_FALSE(d.admit(planFor(1), "d", now + 1min).allowed());
}

TEST_F(RedisCounterStoreTest, EmergencyStopAndGlobalSpend) {
  auto store = makeStore();
  StoreDriver d(blocking(store));
  rules_.budgets = {hardBudget("daily", 10 * kUsd)};
  rules_.emergency_stop.auto_stop =
      core::EmergencyStopRule::Auto{100 * kUsd, core::Period::Day, 1h};
  const auto now = clock_.now();
  EXPECT_EQ(d.emergencyStop(), core::EmergencyStopState{});
  const auto on = core::manualStop({}, "incident 7", 10min, now);
  EXPECT_EQ(d.setEmergencyStop(on), on);
  EXPECT_EQ(d.emergencyStop(), on);
  const AdmissionResult refused = d.admit(planFor(kUsd), "a", now + 1min);
  ASSERT_TRUE(refused.denial);
  EXPECT_EQ(refused.denial->reason, core::DenialReason::EmergencyStop);
  // The expiry write (compare and set) over hiredis: written while held, not over a newer stop.
  const auto off = core::expireEmergencyStop(on, now + 10min);
  EXPECT_EQ(d.replaceEmergencyStop(on, off), off);
  const auto again = core::manualStop(off, "incident 8", 1h, now + 11min);
  EXPECT_EQ(d.setEmergencyStop(again), again);
  EXPECT_EQ(d.replaceEmergencyStop(on, off), again);
  EXPECT_EQ(d.emergencyStop(), again);
  EXPECT_EQ(d.setEmergencyStop(core::EmergencyStopState{}), core::EmergencyStopState{});

  ASSERT_TRUE(d.admit(planFor(kUsd), "b", now + 1min).allowed());
  EXPECT_EQ(d.settle("b", 3 * kUsd, 0, now).period_spend, 3 * kUsd);
  EXPECT_EQ(d.spend(core::spendCounterKey(core::Period::Day, now)), 3 * kUsd);
  EXPECT_EQ(d.spend(core::spendCounterKey(core::Period::Day, now + 24h)), 0);
}

TEST_F(RedisCounterStoreTest, ExactBeyondDoublePrecision) {
  auto store = makeStore();
  StoreDriver d(blocking(store));
  const Picodollars odd = (Picodollars{1} << 53) + 1;
  rules_.budgets = {hardBudget("huge", 9'000'000 * kUsd)};
  const auto now = clock_.now();
  ASSERT_TRUE(d.admit(planFor(odd), "a", now + 1min).allowed());
  EXPECT_EQ(d.counter("huge", "", now).reserved, odd);
  d.settle("a", odd + 4'000'000 * kUsd, 0, now);
  EXPECT_EQ(d.counter("huge", "", now).spent, odd + 4'000'000 * kUsd);
}

/** The seeded differential scenario of tests/core/store, through hiredis and the event loops. */
TEST_F(RedisCounterStoreTest, RandomScenarioMatchesTheMemoryStore) {
  auto store = makeStore(2);
  core::MemoryCounterStore reference_store;
  StoreDriver reference(reference_store);
  // Alternate the loop (and so the connection) every call.
  StoreDriver on0(blocking(store, 0));
  StoreDriver on1(blocking(store, 1));
  rules_.budgets = {hardBudget("org", 150 * kUsd, core::Scope::Global, core::Period::Hour),
                    hardBudget("per-user", 6 * kUsd, core::Scope::User, core::Period::Minute),
                    hardBudget("minutely", 12 * kUsd, core::Scope::Global, core::Period::Minute)};
  core::BudgetRule soft = hardBudget("soft", 5 * kUsd, core::Scope::Team);
  soft.mode = core::BudgetMode::Soft;
  rules_.budgets.push_back(soft);
  rules_.rate_limits = {rateLimit("per-user", 11, 3989, 3, core::Scope::User),
                        rateLimit("global", 97, 9001)};
  rules_.emergency_stop.auto_stop =
      core::EmergencyStopRule::Auto{1000 * kUsd, core::Period::Hour, 1h};

  std::mt19937_64 rng(20260310);
  std::vector<std::string> open;
  std::map<std::string, int> seen;
  const char* users[] = {"alice", "bob", "carol", ""};
  for (int step = 0; step < 1500; ++step) {
    StoreDriver& d = step % 2 == 0 ? on0 : on1;
    const auto now = clock_.now();
    const auto dice = rng() % 10;
    if (dice < 5) {
      const std::string id = "r" + std::to_string(step);
      const auto attrs = caller(users[rng() % 4]);
      const Picodollars worst = static_cast<Picodollars>(rng() % (2 * kUsd));
      const std::int64_t tokens = static_cast<std::int64_t>(rng() % 1500);
      const auto ttl = std::chrono::milliseconds(1000 + rng() % 8000);
      const core::EnforcementPlan p = core::plan(rules_, attrs, worst, tokens, now);
      const AdmissionResult got = d.admit(p, id, now + ttl);
      const AdmissionResult want = reference.admit(p, id, now + ttl);
      ASSERT_EQ(got.status, want.status) << "step " << step << " " << got.error;
      ASSERT_EQ(got.rate_limits, want.rate_limits) << "step " << step;
      ASSERT_EQ(got.denial.has_value(), want.denial.has_value());
      if (want.denial) {
        ASSERT_EQ(got.denial->message, want.denial->message) << "step " << step;
        ASSERT_EQ(got.denial->retry_after, want.denial->retry_after) << "step " << step;
      }
      if (want.allowed()) open.push_back(id);
      ++seen[want.denial ? std::string(core::denialReasonName(want.denial->reason)) : "allowed"];
    } else if (dice < 8 && !open.empty()) {
      const std::size_t pick = rng() % open.size();
      const std::string id = open[pick];
      if (rng() % 4 != 0) open.erase(open.begin() + static_cast<std::ptrdiff_t>(pick));
      const Picodollars cost = static_cast<Picodollars>(rng() % (2 * kUsd));
      const std::int64_t tokens = static_cast<std::int64_t>(rng() % 2000);
      const auto got = d.settle(id, cost, tokens, now);
      const auto want = reference.settle(id, cost, tokens, now);
      ASSERT_EQ(got.outcome, want.outcome) << "step " << step;
      ASSERT_EQ(got.budgets, want.budgets) << "step " << step;
      ASSERT_EQ(got.period_spend, want.period_spend) << "step " << step;
      ++seen["settle-" + std::to_string(static_cast<int>(want.outcome))];
    } else {
      clock_.advance(std::chrono::milliseconds(rng() % 3000));
    }
    if (step % 100 == 0) {
      ASSERT_EQ(d.budgets(clock_.now()), reference.budgets(clock_.now())) << "step " << step;
    }
  }
  for (const char* path : {"allowed", "budget", "rate_limit", "settle-0", "settle-1", "settle-2"}) {
    EXPECT_GE(seen[path], 10) << path;
  }
}

/**
 * Calls made together on one loop go to Redis as batches (one EVALSHA for several admits or
 * settles). The answers and the counters must be exactly those of separate calls in call order:
 * the memory store, called one by one in the same order, is the reference.
 */
TEST_F(RedisCounterStoreTest, BatchedCallsMatchSeparateCallsInOrder) {
  RedisCounterStore::Options options;
  options.max_batch = 7;  // several batches, and one left over that is smaller
  auto store = makeStore(1, options);
  core::MemoryCounterStore reference_store;
  StoreDriver reference(reference_store);
  rules_.budgets = {hardBudget("org", 60 * kUsd, core::Scope::Global, core::Period::Hour),
                    hardBudget("per-user", 6 * kUsd, core::Scope::User, core::Period::Minute)};
  core::BudgetRule soft = hardBudget("soft", 5 * kUsd, core::Scope::Team);
  soft.mode = core::BudgetMode::Soft;
  rules_.budgets.push_back(soft);
  rules_.rate_limits = {rateLimit("per-user", 11, 3989, 3, core::Scope::User),
                        rateLimit("global", 40, 9001)};
  rules_.emergency_stop.auto_stop =
      core::EmergencyStopRule::Auto{1000 * kUsd, core::Period::Hour, 1h};

  std::mt19937_64 rng(20261123);
  const char* users[] = {"alice", "bob", "carol", ""};
  std::map<std::string, int> seen;
  std::size_t calls = 0;
  raw()->command({"CONFIG", "RESETSTAT"});
  struct Admit {
    core::EnforcementPlan plan;
    std::string id;
    std::chrono::system_clock::time_point expires;
  };
  for (int round = 0; round < 4; ++round) {
    const auto now = clock_.now();
    std::vector<Admit> admits;
    for (int i = 0; i < 45; ++i) {
      const Picodollars worst = static_cast<Picodollars>(rng() % (2 * kUsd));
      const auto tokens = static_cast<std::int64_t>(rng() % 1500);
      std::string id = "r" + std::to_string(round) + "-" + std::to_string(i);
      if (i % 11 == 5) id = admits.back().id;  // the same id again: not charged twice
      admits.push_back({core::plan(rules_, caller(users[rng() % 4]), worst, tokens, now), id,
                        now + std::chrono::milliseconds(2000 + rng() % 4000)});
    }
    // All issued in one loop turn, so they queue behind each other and go out in batches.
    auto got = loops_->runOn(0, [&] {
      auto results = std::make_shared<std::vector<AdmissionResult>>(admits.size());
      auto left = std::make_shared<std::atomic<std::size_t>>(admits.size());
      auto all = std::make_shared<std::promise<void>>();
      for (std::size_t i = 0; i < admits.size(); ++i) {
        store->admit(admits[i].plan, admits[i].id, admits[i].expires,
                     [results, left, all, i](AdmissionResult r) {
                       (*results)[i] = std::move(r);
                       if (--*left == 0) all->set_value();
                     });
      }
      return std::make_pair(results, all);
    });
    ASSERT_EQ(got.second->get_future().wait_for(10s), std::future_status::ready);
    std::vector<std::string> open;
    for (std::size_t i = 0; i < admits.size(); ++i) {
      const AdmissionResult want = reference.admit(admits[i].plan, admits[i].id, admits[i].expires);
      const AdmissionResult& have = (*got.first)[i];
      ASSERT_EQ(have.status, want.status)
          << "round " << round << " admit " << i << " " << have.error;
      ASSERT_EQ(have.rate_limits, want.rate_limits) << "round " << round << " admit " << i;
      ASSERT_EQ(have.denial.has_value(), want.denial.has_value());
      if (want.denial) {
        ASSERT_EQ(have.denial->message, want.denial->message) << "admit " << i;
        ASSERT_EQ(have.denial->retry_after, want.denial->retry_after) << "admit " << i;
      }
      ++seen[want.denial ? std::string(core::denialReasonName(want.denial->reason)) : "allowed"];
      if (want.allowed() && (open.empty() || open.back() != admits[i].id)) {
        open.push_back(admits[i].id);
      }
    }
    ASSERT_GE(open.size(), 3u) << "round " << round;
    ASSERT_LT(open.size(), admits.size());

    // Time passes (some reservations expire), then settles in batches: each open one, some twice,
    // and one that was never admitted.
    clock_.advance(std::chrono::milliseconds(rng() % 5000));
    const auto later = clock_.now();
    std::vector<core::Settlement> settles;
    for (std::size_t i = 0; i < open.size(); ++i) {
      settles.push_back({open[i], static_cast<Picodollars>(rng() % (2 * kUsd)),
                         static_cast<std::int64_t>(rng() % 2000), later});
      if (i % 4 == 1) settles.push_back(settles.back());
    }
    settles.push_back({"never-admitted", kUsd, 10, later});
    auto settled = loops_->runOn(0, [&] {
      using Result = core::StoreResult<core::SettleResult>;
      auto results = std::make_shared<std::vector<Result>>(settles.size(), Result::failure(""));
      auto left = std::make_shared<std::atomic<std::size_t>>(settles.size());
      auto all = std::make_shared<std::promise<void>>();
      for (std::size_t i = 0; i < settles.size(); ++i) {
        store->settle(settles[i], [results, left, all, i](Result r) {
          (*results)[i] = std::move(r);
          if (--*left == 0) all->set_value();
        });
      }
      return std::make_pair(results, all);
    });
    ASSERT_EQ(settled.second->get_future().wait_for(10s), std::future_status::ready);
    for (std::size_t i = 0; i < settles.size(); ++i) {
      const auto want = reference.settle(settles[i].reservation_id, settles[i].actual_cost,
                                         settles[i].actual_tokens, later);
      const auto& have = (*settled.first)[i];
      ASSERT_TRUE(have.ok()) << "settle " << i << ": " << have.error;
      ASSERT_EQ(have.value->outcome, want.outcome) << "round " << round << " settle " << i;
      ASSERT_EQ(have.value->budgets, want.budgets) << "round " << round << " settle " << i;
      ASSERT_EQ(have.value->period_spend, want.period_spend) << "settle " << i;
      ++seen["settle-" + std::to_string(static_cast<int>(want.outcome))];
    }
    calls += admits.size() + settles.size();
    StoreDriver d(blocking(store));
    ASSERT_EQ(d.budgets(later), reference.budgets(later)) << "round " << round;
    // Most of a minute: the rate limits drain, and what was left open expires.
    clock_.advance(std::chrono::milliseconds(50000 + rng() % 3000));
  }
  for (const char* path :
       {"allowed", "budget", "rate_limit", "settle-0", "settle-1", "settle-2", "settle-3"}) {
    EXPECT_GE(seen[path], 1) << path;
  }
  // They did go in batches: far fewer script calls than requests.
  const auto stats = raw()->command({"INFO", "commandstats"}).toText().value_or("");
  const auto at = stats.find("cmdstat_evalsha:calls=");
  ASSERT_NE(at, std::string::npos) << stats;
  const std::size_t evalsha = std::stoul(stats.substr(at + 22));
  EXPECT_LE(evalsha, calls / 4) << calls << " requests";
}

/** One request of a batch that fails answers its error; the others are unaffected. */
TEST_F(RedisCounterStoreTest, AFailingRequestInABatchFailsAlone) {
  auto store = makeStore(1);
  rules_.budgets = {hardBudget("daily", 10 * kUsd, core::Scope::User)};
  const core::EnforcementPlan good = planFor(kUsd);
  const core::EnforcementPlan bad = core::plan(rules_, caller("mallory"), kUsd, 0, clock_.now());
  raw()->command({"SET", "spendgate:" + bad.budgets.at(0).counter_key, "not a hash"});
  auto got = loops_->runOn(0, [&] {
    auto results = std::make_shared<std::vector<AdmissionResult>>(3);
    auto left = std::make_shared<std::atomic<int>>(3);
    auto all = std::make_shared<std::promise<void>>();
    const core::EnforcementPlan* plans[] = {&good, &bad, &good};
    for (int i = 0; i < 3; ++i) {
      store->admit(*plans[i], "b" + std::to_string(i), clock_.now() + 1min,
                   [results, left, all, i](AdmissionResult r) {
                     (*results)[i] = std::move(r);
                     if (--*left == 0) all->set_value();
                   });
    }
    return std::make_pair(results, all);
  });
  ASSERT_EQ(got.second->get_future().wait_for(10s), std::future_status::ready);
  EXPECT_EQ((*got.first)[0].status, Status::Allowed);
  EXPECT_EQ((*got.first)[1].status, Status::StoreError);
  EXPECT_NE((*got.first)[1].error.find("WRONGTYPE"), std::string::npos) << (*got.first)[1].error;
  EXPECT_FALSE(store->unavailable((*got.first)[1].error));
  EXPECT_EQ((*got.first)[2].status, Status::Allowed);
  StoreDriver d(blocking(store));
  EXPECT_EQ(d.counter("daily", "alice", clock_.now()).reserved, 2 * kUsd);
}

// In a batch the requests share the script's counter cache: a request that failed after charging
// its rate limits in the cache (its soft budget's counter holds a string) left that charge to be
// written with the others'. admit.lua now checks the key types before it charges anything.
TEST_F(RedisCounterStoreTest, AFailingRequestInABatchChargesNothing) {
  auto store = makeStore(1);
  core::BudgetRule soft = hardBudget("team", 10 * kUsd, core::Scope::User);
  soft.mode = core::BudgetMode::Soft;
  rules_.budgets = {soft};
  rules_.rate_limits = {rateLimit("rpm", 100)};
  const core::EnforcementPlan good = planFor(kUsd);
  const core::EnforcementPlan bad = core::plan(rules_, caller("mallory"), kUsd, 0, clock_.now());
  raw()->command({"SET", "spendgate:" + bad.budgets.at(0).counter_key, "not a hash"});
  auto got = loops_->runOn(0, [&] {
    auto results = std::make_shared<std::vector<AdmissionResult>>(3);
    auto left = std::make_shared<std::atomic<int>>(3);
    auto all = std::make_shared<std::promise<void>>();
    const core::EnforcementPlan* plans[] = {&good, &bad, &good};
    for (int i = 0; i < 3; ++i) {
      store->admit(*plans[i], "b" + std::to_string(i), clock_.now() + 1min,
                   [results, left, all, i](AdmissionResult r) {
                     (*results)[i] = std::move(r);
                     if (--*left == 0) all->set_value();
                   });
    }
    return std::make_pair(results, all);
  });
  ASSERT_EQ(got.second->get_future().wait_for(10s), std::future_status::ready);
  EXPECT_EQ((*got.first)[0].status, Status::Allowed);
  EXPECT_EQ((*got.first)[1].status, Status::StoreError);
  EXPECT_EQ((*got.first)[2].status, Status::Allowed);
  StoreDriver d(blocking(store));
  const AdmissionResult next = d.admit(planFor(kUsd), "next", clock_.now() + 1min);
  ASSERT_TRUE(next.rate_limits.requests);
  EXPECT_EQ(next.rate_limits.requests->remaining, 97u);  // b0, b2 and next: not the failed one
}

TEST_F(RedisCounterStoreTest, OneConnectionPerLoopAndCallbacksOnTheCallersLoop) {
  auto store = makeStore(3);
  EXPECT_EQ(store->loopCount(), 3u);
  EXPECT_EQ(store->connectedCount(), 3u);
  // Three clients: CLIENT LIST shows them plus this inspection connection.
  auto c = raw();
  const auto list = c->command({"CLIENT", "LIST"});
  ASSERT_EQ(list.type, core::ScriptValue::Type::String);
  EXPECT_EQ(std::count(list.str.begin(), list.str.end(), '\n'), 4) << list.str;

  for (std::size_t i = 0; i < 3; ++i) {
    BlockingStore& b = blocking(store, i);
    StoreDriver(b).emergencyStop();
    EXPECT_EQ(b.lastCallbackThread(), loops_->threadId(i)) << "loop " << i;
  }
  // From a thread that runs no loop: posted to loop 0, completed there.
  std::promise<std::thread::id> where;
  store->emergencyStop([&](core::StoreResult<core::EmergencyStopState> r) {
    EXPECT_TRUE(r.ok()) << r.error;
    where.set_value(std::this_thread::get_id());
  });
  auto future = where.get_future();
  ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(future.get(), loops_->threadId(0));
}

/**
 * Two stores (two instances: each its own loop thread and connection) hammer one hard budget
 * with many admissions in flight; a monitor samples spent + reserved all along.
 */
TEST_F(RedisCounterStoreTest, TwoInstancesNeverExceedAHardBudgetTogether) {
  loops_ = std::make_unique<LoopThreads>(2);
  config::RedisConfig redis;
  redis.url = server_.url();
  // The hard cap is under test, not the admit deadline: a loaded CI machine must not turn a
  // slow answer into an error here.
  RedisCounterStore::Options options;
  options.admit_timeout = 10s;
  options.command_timeout = 10s;
  std::vector<std::shared_ptr<RedisCounterStore>> instances;
  for (std::size_t i = 0; i < 2; ++i) {
    instances.push_back(RedisCounterStore::create(redis, {&(*loops_)[i]}, logger_, options));
    stores_.push_back(instances.back());
  }
  ASSERT_TRUE(eventually([&] { return instances[0]->up() && instances[1]->up(); }));

  const Picodollars limit = 300 * kUsd + 123;  // not a multiple of the worst case
  const Picodollars worst = 3 * kUsd;
  rules_.budgets = {hardBudget("shared", limit)};
  const auto now = std::chrono::system_clock::now();
  const core::EnforcementPlan p = core::plan(rules_, caller(), worst, 0, now);
  const std::string key = "spendgate:" + p.budgets.at(0).counter_key;

  std::atomic<bool> stop_monitor{false};
  std::atomic<int> samples{0};
  std::atomic<int> violations{0};
  std::thread monitor([&] {
    auto c = raw();
    while (!stop_monitor.load()) {
      const auto v = c->command({"HMGET", key, "spent", "reserved"});
      if (v.type == core::ScriptValue::Type::Array && v.elements.size() == 2) {
        const Picodollars spent = v.elements[0].toInt().value_or(0);
        const Picodollars reserved = v.elements[1].toInt().value_or(0);
        if (spent + reserved > limit) ++violations;
        ++samples;
      }
    }
  });

  // Each instance keeps 16 admissions in flight; an allowed one settles at its full worst case
  // (so the budget fills as fast as it can), a refused slot retires.
  struct Worker {
    std::shared_ptr<RedisCounterStore> store;
    int active = 0;
    int allowed = 0;
    int denied = 0;
    int errors = 0;
    int next = 0;
    std::promise<void> done;
  };
  std::vector<std::unique_ptr<Worker>> workers;
  for (std::size_t i = 0; i < 2; ++i) {
    auto w = std::make_unique<Worker>();
    w->store = instances[i];
    workers.push_back(std::move(w));
  }
  for (std::size_t i = 0; i < 2; ++i) {
    Worker* w = workers[i].get();
    const std::string prefix = "i" + std::to_string(i) + "-";
    net::post((*loops_)[i], [w, prefix, p, now] {
      auto step = std::make_shared<std::function<void()>>();
      *step = [w, prefix, p, now, step] {
        const std::string id = prefix + std::to_string(w->next++);
        const Picodollars cost = p.worst_case_cost;
        w->store->admit(p, id, now + 10min, [w, id, now, step, cost](AdmissionResult r) {
          if (r.allowed()) {
            ++w->allowed;
            w->store->settle(core::Settlement{id, cost, 0, now},
                             [w, step](core::StoreResult<core::SettleResult> s) {
                               if (!s.ok()) ++w->errors;
                               (*step)();
                             });
            return;
          }
          if (r.status == Status::Denied) {
            ++w->denied;
          } else {
            ++w->errors;
          }
          if (--w->active == 0) w->done.set_value();
        });
      };
      w->active = 16;
      for (int k = 0; k < 16; ++k) (*step)();
    });
  }
  for (auto& w : workers) {
    ASSERT_EQ(w->done.get_future().wait_for(60s), std::future_status::ready);
  }
  stop_monitor = true;
  monitor.join();

  const int allowed = workers[0]->allowed + workers[1]->allowed;
  EXPECT_EQ(workers[0]->errors + workers[1]->errors, 0);
  EXPECT_EQ(violations.load(), 0) << "spent + reserved exceeded the limit";
  // How many samples fit in the run depends on the machine's load; that it sampled is what counts.
  EXPECT_GT(samples.load(), 0);
  EXPECT_GT(workers[0]->allowed, 0);
  EXPECT_GT(workers[1]->allowed, 0);
  // Exactly floor(limit / worst) requests fit: the budget is used to within one worst case.
  EXPECT_EQ(allowed, static_cast<int>(limit / worst));
  auto c = raw();
  const auto v = c->command({"HMGET", key, "spent", "reserved"});
  ASSERT_EQ(v.elements.size(), 2u);
  EXPECT_EQ(v.elements[0].toInt(), allowed * worst);
  EXPECT_EQ(v.elements[1].toInt(), 0);
  EXPECT_LT(limit - allowed * worst, worst);
}

TEST_F(RedisCounterStoreTest, RedisDownFailsPromptlyThenRecovers) {
  RedisCounterStore::Options options;
  options.max_backoff = 200ms;
  auto store = makeStore(2, options);
  rules_.budgets = {hardBudget("daily", 10 * kUsd)};
  BlockingStore& b = blocking(store, 1);
  const auto now = clock_.now();
  ASSERT_TRUE(StoreDriver(b).admit(planFor(kUsd), "before", now + 1min).allowed());

  server_.stop();
  ASSERT_TRUE(eventually([&] { return !store->up(); }, 5s));
  const auto start = std::chrono::steady_clock::now();
  const auto r = b.wait<AdmissionResult>(
      [&](auto done) { store->admit(planFor(kUsd), "during", now + 1min, std::move(done)); });
  EXPECT_EQ(r.status, Status::StoreError);
  EXPECT_NE(r.error.find("redis admit"), std::string::npos) << r.error;
  EXPECT_TRUE(store->unavailable(r.error));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1000ms);  // fails fast, no hang
  const auto s = b.wait<core::StoreResult<core::SettleResult>>([&](auto done) {
    store->settle(core::Settlement{"before", kUsd, 0, now}, std::move(done));
  });
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(store->unavailable(s.error)) << s.error;
  const auto e = b.wait<core::StoreResult<core::EmergencyStopState>>(
      [&](auto done) { store->emergencyStop(std::move(done)); });
  EXPECT_FALSE(e.ok());

  ASSERT_TRUE(server_.restart()) << server_.lastError();
  ASSERT_TRUE(eventually([&] { return store->up(); }, 10s));
  // A fresh server has no scripts cached: EVALSHA falls back to EVAL by itself.
  StoreDriver d(b);
  ASSERT_TRUE(d.admit(planFor(kUsd), "after", now + 1min).allowed());
  EXPECT_EQ(d.settle("after", kUsd / 2, 0, now).outcome, core::SettleOutcome::Settled);
  EXPECT_EQ(d.counter("daily", "", now).spent, kUsd / 2);
}

TEST_F(RedisCounterStoreTest, SlowRedisTimesOutTheAdmitAndALateAllowIsReleased) {
  RedisCounterStore::Options options;
  options.admit_timeout = 100ms;
  options.command_timeout = 3000ms;  // the connection survives the stall
  auto store = makeStore(1, options);
  rules_.budgets = {hardBudget("daily", 10 * kUsd)};
  rules_.rate_limits = {rateLimit("inflight", 0, 0, 1)};
  BlockingStore& b = blocking(store);
  const auto now = clock_.now();

  // Stall the server for 600 ms on another connection.
  // A script that spins for 600 ms blocks the whole server (DEBUG SLEEP may be disabled).
  std::thread staller([&] {
    const auto r = raw()->command(
        {"EVAL",
         "local t = redis.call('TIME') local s = t[1] * 1000000 + t[2] "
         "repeat t = redis.call('TIME') until t[1] * 1000000 + t[2] - s >= 600000 return 1",
         "0"});
    EXPECT_EQ(r.toInt(), 1) << r.str;
  });
  std::this_thread::sleep_for(50ms);
  const auto start = std::chrono::steady_clock::now();
  const auto r = b.wait<AdmissionResult>(
      [&](auto done) { store->admit(planFor(4 * kUsd), "slow", now + 10min, std::move(done)); });
  const auto took = std::chrono::steady_clock::now() - start;
  staller.join();
  EXPECT_EQ(r.status, Status::StoreError);
  EXPECT_NE(r.error.find("no answer within 100 ms"), std::string::npos) << r.error;
  EXPECT_LT(took, 450ms);  // not the 600 ms stall
  // Redis did admit it once it woke up; the store gave the reservation back by itself.
  auto c = raw();
  ASSERT_TRUE(eventually([&] {
    return c->command({"HGET", "spendgate:rsv:slow", "state"}).toText() ==
           std::optional<std::string>("settled");
  }));
  StoreDriver d(b);
  const auto counter = d.counter("daily", "", now);
  EXPECT_EQ(counter.reserved, 0);
  EXPECT_EQ(counter.spent, 0);
  EXPECT_TRUE(d.admit(planFor(kUsd), "next", now + 1min).allowed());  // the slot is free too
  EXPECT_TRUE(store->up());
}

// The audit's outage: Redis paused (SIGSTOP) longer than command_timeout while admits are
// written to the connection. The client drops it, so the replies of the admits Redis runs when
// it resumes are lost. The store remembers them and, once Redis answers again, releases them
// with tombstones: nothing stays reserved until expiry (where it would be charged as spent).
TEST_F(RedisCounterStoreTest, PausedRedisLostAdmitsAreReleasedOnceItAnswers) {
  RedisCounterStore::Options options;
  options.admit_timeout = 100ms;
  options.command_timeout = 300ms;
  options.connect_timeout = 300ms;
  options.min_backoff = 20ms;
  options.max_backoff = 100ms;
  options.max_batch = 4;  // several calls on the wire
  auto store = makeStore(2, options);
  rules_.budgets = {hardBudget("daily", 1000 * kUsd)};
  rules_.rate_limits = {rateLimit("inflight", 0, 0, 1000)};
  BlockingStore& b = blocking(store);
  const auto now = clock_.now();
  StoreDriver d(b);
  ASSERT_TRUE(d.admit(planFor(kUsd), "warm", now + 1min).allowed());
  EXPECT_EQ(d.settle("warm", 0, 0, now).outcome, core::SettleOutcome::Settled);

  ASSERT_EQ(::kill(server_.pid(), SIGSTOP), 0);
  constexpr int kAdmits = 40;
  std::atomic<int> answered{0};
  std::atomic<int> errors{0};
  const auto plan = planFor(kUsd);
  for (int i = 0; i < kAdmits; ++i) {
    // Half on each loop (each has its own connection).
    net::post((*loops_)[i % 2], [&, i] {
      store->admit(plan, "lost-" + std::to_string(i), now + 10min, [&](AdmissionResult r) {
        if (r.status == Status::StoreError) ++errors;
        ++answered;
      });
    });
  }
  const bool all_answered = eventually([&] { return answered.load() == kAdmits; }, 2s);
  // Past command_timeout: both connections are dropped with the admits unanswered.
  std::this_thread::sleep_for(1200ms);
  ASSERT_EQ(::kill(server_.pid(), SIGCONT), 0);
  ASSERT_TRUE(all_answered);
  EXPECT_EQ(errors.load(), kAdmits);  // fail_closed: every caller got StoreError (503)

  auto c = raw();
  const auto resumed = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return store->up(); }, 5s));
  // Lost admits that Redis ran when it resumed (their records list the budget): without the
  // release they stay reserved until they expire.
  auto ran = [&] {
    int n = 0;
    for (int i = 0; i < kAdmits; ++i) {
      const auto nb = c->command({"HGET", "spendgate:rsv:lost-" + std::to_string(i), "nb"});
      if (nb.toText() && *nb.toText() != "0") ++n;
    }
    return n;
  };
  const bool released = eventually([&] { return d.counter("daily", "", now).reserved == 0; }, 3s);
  EXPECT_TRUE(released) << "still reserved: " << d.counter("daily", "", now).reserved
                        << " picodollars; lost admits Redis ran: " << ran();
  EXPECT_LT(std::chrono::steady_clock::now() - resumed, 1500ms);
  // Every id written to a connection has a settled record (so an admit Redis has not run yet
  // reserves nothing); the ones still waiting in the store's queue were never sent and have none.
  int tombstones = 0;
  for (int i = 0; i < kAdmits; ++i) {
    const std::string id = "lost-" + std::to_string(i);
    const auto state = c->command({"HGET", "spendgate:rsv:" + id, "state"}).toText();
    EXPECT_NE(state, std::optional<std::string>("active")) << id;
    if (state) ++tombstones;
  }
  EXPECT_GT(tombstones, 0);
  // Nothing shows up later either, and nothing is left in flight.
  std::this_thread::sleep_for(500ms);
  const auto counter = d.counter("daily", "", now);
  EXPECT_EQ(counter.reserved, 0);
  EXPECT_EQ(counter.spent, 0);
  EXPECT_EQ(c->command({"ZCARD", "spendgate:rsv:exp"}).toInt(), 0);
  RecordProperty("lost_admits_run_by_redis", ran());
  EXPECT_TRUE(d.admit(planFor(kUsd), "after", now + 1min).allowed());
}

}  // namespace
}  // namespace spendgate::proxy
