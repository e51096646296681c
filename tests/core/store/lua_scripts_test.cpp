// The Lua scripts on a real redis-server, beyond the shared contract suite: the spliced-in
// helper block, Redis TIME, key layout and TTLs, and real concurrency over many connections.

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "core/store/lease_script.hpp"
#include "core/store/reconcile_script.hpp"
#include "core/store/settle_script.hpp"
#include "tests/core/store/store_test_support.hpp"

namespace spendgate::core::testing {
namespace {

using namespace std::chrono_literals;

std::string commonBlock(const std::string& script) {
  const auto begin = script.find("-- BEGIN common");
  const auto end = script.find("-- END common");
  if (begin == std::string::npos || end == std::string::npos) return {};
  return script.substr(begin, end - begin);
}

TEST(LuaScripts, SharedHelpersAreIdenticalInEveryScript) {
  const std::string admit = commonBlock(readLuaScript("admit.lua"));
  ASSERT_FALSE(admit.empty());
  EXPECT_EQ(commonBlock(readLuaScript("settle.lua")), admit);
  EXPECT_EQ(commonBlock(readLuaScript("budgets.lua")), admit);
}

class LuaScriptsOnRedis : public ::testing::Test {
protected:
  void SetUp() override {
    server_ = sharedRedis();
    if (!server_) GTEST_SKIP() << "redis-server not available";
    server_->connect()->command({"FLUSHALL"});
    store_ = std::make_shared<ScriptCounterStore>(*server_, StoreKeys("{sg}:"));
  }

  std::optional<std::int64_t> pttl(const std::string& key) {
    return store_->run({"PTTL", key}).toInt();
  }

  RedisTestServer* server_ = nullptr;
  std::shared_ptr<ScriptCounterStore> store_;
};

// The release of an admit whose reply was lost (RedisCounterStore): an active reservation is
// released; with no record yet, a settled one is written so that the admit, arriving later,
// reserves nothing; fail_open reconcile of the same id still adds its cost once.
TEST_F(LuaScriptsOnRedis, TombstoneReleasesOrForestallsALostAdmit) {
  StoreDriver driver(*store_);
  Rules rules;
  rules.budgets = {hardBudget("daily", 10 * kUsd)};
  rules.rate_limits = {rateLimit("inflight", 0, 0, 1)};
  const auto now = std::chrono::system_clock::now();
  const StoreKeys keys("{sg}:");
  const std::string settle = readLuaScript("settle.lua");
  auto tombstone = [&](const std::string& id) {
    const ScriptCall call = SettleScript::tombstone(keys, id, now);
    std::vector<std::string> command = {"EVAL", settle, std::to_string(call.keys.size())};
    command.insert(command.end(), call.keys.begin(), call.keys.end());
    command.insert(command.end(), call.args.begin(), call.args.end());
    return SettleScript::parse(keys, store_->run(command));
  };

  // Admitted first: the tombstone releases it like a settle of cost 0.
  ASSERT_TRUE(driver.admit(plan(rules, caller(), 3 * kUsd, 0, now), "ran", now + 1min).allowed());
  EXPECT_EQ(driver.counter("daily", "", now).reserved, 3 * kUsd);
  const auto released = tombstone("ran");
  ASSERT_TRUE(released.ok()) << released.error;
  EXPECT_EQ(released.value->outcome, SettleOutcome::Settled);
  EXPECT_EQ(driver.counter("daily", "", now).reserved, 0);
  EXPECT_EQ(driver.counter("daily", "", now).spent, 0);

  // Not run yet: a settled record, kept for the retention, and the admit then reserves nothing.
  const auto early = tombstone("late");
  ASSERT_TRUE(early.ok()) << early.error;
  EXPECT_EQ(early.value->outcome, SettleOutcome::UnknownReservation);
  EXPECT_EQ(store_->run({"HGET", keys.reservation("late"), "state"}).toText(), "settled");
  EXPECT_GT(pttl(keys.reservation("late")).value_or(0), 0);
  EXPECT_LE(pttl(keys.reservation("late")).value_or(0), kReservationRecordRetention.count());
  AdmissionResult late;
  store_->admit(plan(rules, caller(), 3 * kUsd, 0, now), "late", now + 1min,
                [&](AdmissionResult r) { late = std::move(r); });
  EXPECT_EQ(late.status, AdmissionResult::Status::StoreError);
  EXPECT_NE(late.error.find("already settled"), std::string::npos) << late.error;  // 'reused'
  EXPECT_EQ(driver.counter("daily", "", now).reserved, 0);
  EXPECT_EQ(store_->run({"ZSCORE", keys.expiries(), keys.reservation("late")}).type,
            ScriptValue::Type::Nil);
  // The concurrency slot is free: nothing is in flight.
  EXPECT_TRUE(driver.admit(plan(rules, caller(), kUsd, 0, now), "next", now + 1min).allowed());
  EXPECT_EQ(driver.settle("next", kUsd, 0, now).outcome, SettleOutcome::Settled);

  // A plain settle of an unknown id still writes nothing.
  EXPECT_EQ(driver.settle("never", kUsd, 0, now).outcome, SettleOutcome::UnknownReservation);
  EXPECT_EQ(store_->run({"EXISTS", keys.reservation("never")}).toInt(), 0);

  // fail_open: the request went through the local store; its reconcile still adds the cost.
  const EnforcementPlan p = plan(rules, caller(), 3 * kUsd, 0, now);
  const Reconciliation r = Reconciliation::of(p, Settlement{"late", 2 * kUsd, 0, now});
  const ScriptCall rc = ReconcileScript::call(keys, r, now);
  std::vector<std::string> command = {"EVAL", readLuaScript("reconcile.lua"),
                                      std::to_string(rc.keys.size())};
  command.insert(command.end(), rc.keys.begin(), rc.keys.end());
  command.insert(command.end(), rc.args.begin(), rc.args.end());
  const auto added = ReconcileScript::parse(keys, store_->run(command));
  ASSERT_TRUE(added.ok()) << added.error;
  EXPECT_EQ(driver.counter("daily", "", now).spent, kUsd + 2 * kUsd);
  EXPECT_EQ(driver.counter("daily", "", now).reserved, 0);
}

TEST_F(LuaScriptsOnRedis, ServerTimeMode) {
  store_->useServerTime(true);
  StoreDriver driver(*store_);
  Rules rules;
  rules.budgets = {hardBudget("daily", 2 * kUsd)};
  rules.rate_limits = {rateLimit("rpm", 60)};
  const auto now = std::chrono::system_clock::now();
  ASSERT_TRUE(driver.admit(plan(rules, caller(), kUsd, 0, now), "a", now + 1min).allowed());
  const AdmissionResult second =
      driver.admit(plan(rules, caller(), 2 * kUsd, 0, now), "b", now + 1min);
  ASSERT_TRUE(second.denial);
  EXPECT_EQ(second.denial->reason, DenialReason::Budget);
  EXPECT_EQ(driver.settle("a", kUsd / 2, 0, now).outcome, SettleOutcome::Settled);
  EXPECT_EQ(driver.counter("daily", "", now).spent, kUsd / 2);
}

TEST_F(LuaScriptsOnRedis, KeyLayoutAndLifetimes) {
  StoreDriver driver(*store_);
  Rules rules;
  rules.budgets = {hardBudget("daily", 10 * kUsd, Scope::User)};
  rules.rate_limits = {rateLimit("rpm", 60, 1000, 2, Scope::User)};
  rules.emergency_stop.auto_stop = EmergencyStopRule::Auto{kUsd, Period::Day, 1h};
  const auto now = std::chrono::system_clock::now();
  const EnforcementPlan p = plan(rules, caller("a:b"), kUsd, 10, now);
  ASSERT_TRUE(driver.admit(p, "req-1", now + 5min).allowed());

  const std::string counter = "{sg}:" + p.budgets[0].counter_key;
  EXPECT_NE(counter.find(":a%3Ab:"), std::string::npos);  // the subject's ':' is escaped
  EXPECT_EQ(store_->run({"HGET", counter, "reserved"}).toInt(), kUsd);
  EXPECT_EQ(store_->run({"HGET", counter, "subject"}).toText(), "a:b");
  // Kept past the period end and past the reservation's record retention.
  EXPECT_GT(pttl(counter).value_or(0), 0);
  EXPECT_EQ(store_->run({"ZSCORE", "{sg}:budgets", counter}).toInt(),
            unixMillis(p.budgets[0].window.end));
  const std::string rate = "{sg}:" + p.rate_limits[0].key;
  EXPECT_EQ(store_->run({"HGET", rate, "inflight"}).toInt(), 1);
  EXPECT_GE(pttl(rate).value_or(0), 5 * 60 * 1000);
  // An active record never expires by itself (its release depends on it); it is indexed.
  EXPECT_EQ(pttl("{sg}:rsv:req-1"), -1);
  EXPECT_EQ(store_->run({"ZSCORE", "{sg}:rsv:exp", "{sg}:rsv:req-1"}).toInt(),
            unixMillis(now + 5min));

  EXPECT_EQ(driver.settle("req-1", kUsd / 4, 7, now).period_spend, kUsd / 4);
  EXPECT_EQ(store_->run({"HGET", "{sg}:rsv:req-1", "state"}).toText(), "settled");
  const auto record_ttl = pttl("{sg}:rsv:req-1").value_or(0);
  EXPECT_GT(record_ttl, kReservationRecordRetention.count() - 5000);
  EXPECT_LE(record_ttl, kReservationRecordRetention.count());
  EXPECT_EQ(store_->run({"ZSCORE", "{sg}:rsv:exp", "{sg}:rsv:req-1"}).type, ScriptValue::Type::Nil);
  const std::string spend = "{sg}:" + p.spend->key;
  EXPECT_EQ(store_->run({"GET", spend}).toInt(), kUsd / 4);
  EXPECT_GT(pttl(spend).value_or(0), 0);
}

TEST_F(LuaScriptsOnRedis, ManyConnectionsNeverOvershoot) {
  // 8 threads, each on its own connection, a few hundred admits each against one hard budget.
  Rules rules;
  const Picodollars worst = kUsd / 3;
  const Picodollars limit = 100 * kUsd;
  rules.budgets = {hardBudget("shared", limit)};
  const auto now = utc(2026, 3, 10, 12);
  std::atomic<std::int64_t> allowed{0};
  std::atomic<std::int64_t> violations{0};
  std::atomic<bool> done{false};
  std::thread monitor([&] {
    StoreDriver driver(*store_);
    while (!done) {
      const BudgetSnapshot c = driver.counter("shared", "", now);
      if (c.spent + c.reserved > limit) ++violations;
    }
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < 8; ++t) {
    workers.emplace_back([&, t] {
      StoreDriver driver(*store_);
      for (int i = 0; i < 300; ++i) {
        const std::string id = std::to_string(t) + ":" + std::to_string(i);
        if (driver.admit(plan(rules, caller(), worst, 0, now), id, now + 10min).allowed()) {
          ++allowed;
          if (i % 2 == 0) driver.settle(id, worst, 0, now);  // half stay in flight
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  done = true;
  monitor.join();
  EXPECT_EQ(violations.load(), 0);
  EXPECT_EQ(allowed.load(), limit / worst);
  const BudgetSnapshot c = StoreDriver(*store_).counter("shared", "", now);
  EXPECT_EQ(c.spent + c.reserved, allowed.load() * worst);
  EXPECT_LT(limit - (c.spent + c.reserved), worst);
}

// A slice whose lease lapsed is charged as spent (its holder may have spent it all and crashed
// before the flush); a holder that was only cut off comes back and cuts the charge down to
// what it still holds, so spent ends exact.
TEST_F(LuaScriptsOnRedis, ALapsedSliceIsChargedAndALiveHolderCorrectsIt) {
  Rules rules;
  rules.budgets = {hardBudget("daily", 100 * kUsd)};
  const auto t0 = utc(2026, 3, 10, 12);
  const BudgetCharge charge = plan(rules, caller(), kUsd, 0, t0).budgets.at(0);
  const std::string counter = "{sg}:" + charge.counter_key;
  LeaseSizing sizing;  // ttl 5 s
  auto flush = [&](std::uint64_t seq, std::chrono::system_clock::time_point now, Picodollars delta,
                   Picodollars held, Picodollars unit) {
    LeaseFlush f;
    f.seq = seq;
    f.now = now;
    f.budgets.push_back({charge, delta, 0, unit, held});
    const ScriptCall call = LeaseScript::call(StoreKeys("{sg}:"), "h", f, sizing);
    std::vector<std::string> command = {"EVAL", readLuaScript("lease.lua"),
                                        std::to_string(call.keys.size())};
    command.insert(command.end(), call.keys.begin(), call.keys.end());
    command.insert(command.end(), call.args.begin(), call.args.end());
    const auto reply = LeaseScript::parse(f, store_->run(command));
    EXPECT_TRUE(reply.ok()) << reply.error;
    return reply.ok() ? reply.value->budgets.at(0) : LeaseBudgetState{};
  };
  auto field = [&](const std::string& name) {
    return store_->run({"HGET", counter, name}).toInt().value_or(0);
  };
  StoreDriver driver(*store_);
  ASSERT_TRUE(driver.admit(plan(rules, caller(), kUsd, 0, t0), "first", t0 + 1min).allowed());
  driver.settle("first", 0, 0, t0);
  const Picodollars slice = flush(1, t0, 0, 0, kUsd).lease;
  ASSERT_EQ(slice, 100 * kUsd / 32);

  // No renewal for the ttl: the next admission finds the lease lapsed and charges it.
  const auto t1 = t0 + 6s;
  ASSERT_TRUE(driver.admit(plan(rules, caller(), kUsd, 0, t1), "next", t1 + 1min).allowed());
  EXPECT_EQ(field("spent"), slice);
  EXPECT_EQ(field("leased"), 0);
  EXPECT_EQ(field("lapsed"), slice);
  EXPECT_EQ(field("C:h"), slice);
  EXPECT_FALSE(driver.admit(plan(rules, caller(), 97 * kUsd, 0, t1), "big", t1 + 1min).allowed());

  // The holder was alive: it sends the 1 USD it spent meanwhile and holds 0.5 USD in flight.
  const LeaseBudgetState back = flush(2, t1, kUsd, kUsd / 2, 0);
  EXPECT_EQ(back.lease, 0);
  EXPECT_EQ(back.spent, kUsd + kUsd / 2);
  EXPECT_EQ(field("spent"), kUsd + kUsd / 2);
  EXPECT_EQ(field("lapsed"), kUsd / 2);
  EXPECT_EQ(field("C:h"), kUsd / 2);
  // A replay changes nothing; the in-flight request then settles at 0.4 USD: exact.
  EXPECT_EQ(flush(2, t1, kUsd, kUsd / 2, 0).spent, kUsd + kUsd / 2);
  EXPECT_EQ(flush(3, t1, 2 * kUsd / 5, 0, 0).spent, kUsd + 2 * kUsd / 5);
  EXPECT_EQ(field("lapsed"), 0);
  EXPECT_EQ(store_->run({"HEXISTS", counter, "C:h"}).toInt(), 0);
  EXPECT_EQ(field("reserved"), kUsd);  // "next"
}

TEST_F(LuaScriptsOnRedis, ScriptErrorsBecomeStoreErrors) {
  // A wrong-type key makes the script fail; the parser reports it instead of guessing.
  Rules rules;
  rules.budgets = {hardBudget("daily", kUsd)};
  const auto now = utc(2026, 3, 10, 12);
  const EnforcementPlan p = plan(rules, caller(), 1, 0, now);
  store_->run({"SET", "{sg}:" + p.budgets[0].counter_key, "not a hash"});
  AdmissionResult result;
  store_->admit(p, "x", now + 1min, [&](AdmissionResult r) { result = r; });
  EXPECT_EQ(result.status, AdmissionResult::Status::StoreError);
  EXPECT_NE(result.error.find("admit.lua"), std::string::npos) << result.error;
}

}  // namespace
}  // namespace spendgate::core::testing
