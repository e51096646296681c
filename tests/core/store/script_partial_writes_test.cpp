// Redis does not roll back what a script wrote before it failed. Each script checks the types of
// the keys it writes before its first write (common.lua check_types), so a wrong-typed key fails
// the call with nothing changed, and the retry after the key is fixed counts once. On a real
// redis-server.

#include <gtest/gtest.h>

#include "core/store/lease_script.hpp"
#include "core/store/lua_sources.hpp"
#include "core/store/reconcile_script.hpp"
#include "tests/core/store/store_test_support.hpp"

namespace spendgate::core::testing {
namespace {

using namespace std::chrono_literals;

class ScriptPartialWrites : public ::testing::Test {
protected:
  void SetUp() override {
    server_ = sharedRedis();
    if (!server_) GTEST_SKIP() << "redis-server not available";
    server_->connect()->command({"FLUSHALL"});
    store_ = std::make_shared<ScriptCounterStore>(*server_, keys_);
    driver_ = std::make_unique<StoreDriver>(*store_);
    rules_.budgets = {hardBudget("daily", 10 * kUsd)};
    BudgetRule soft = hardBudget("team", kUsd, Scope::Team);
    soft.mode = BudgetMode::Soft;
    rules_.budgets.push_back(soft);
    rules_.emergency_stop.auto_stop = EmergencyStopRule::Auto{100 * kUsd, Period::Day, 1h};
  }

  ScriptValue eval(std::string_view source, const ScriptCall& call) {
    std::vector<std::string> command = {"EVAL", std::string(source),
                                        std::to_string(call.keys.size())};
    command.insert(command.end(), call.keys.begin(), call.keys.end());
    command.insert(command.end(), call.args.begin(), call.args.end());
    return store_->run(command);
  }

  EnforcementPlan planFor(Picodollars worst) { return plan(rules_, caller(), worst, 0, now()); }
  std::chrono::system_clock::time_point now() const { return clock_.now(); }
  std::string counterKey(std::size_t budget) {
    return keys_.counter(planFor(kUsd).budgets[budget].counter_key);
  }
  std::string spendKey() { return keys_.counter(planFor(kUsd).spend->key); }
  std::optional<std::int64_t> field(const std::string& key, const std::string& name) {
    return store_->run({"HGET", key, name}).toInt();
  }
  bool exists(const std::string& key) { return store_->run({"EXISTS", key}).toInt() == 1; }
  void makeString(const std::string& key) {
    store_->run({"DEL", key});
    store_->run({"SET", key, "not a hash"});
  }

  RedisTestServer* server_ = nullptr;
  StoreKeys keys_{"t:"};
  std::shared_ptr<ScriptCounterStore> store_;
  std::unique_ptr<StoreDriver> driver_;
  ManualClock clock_{utc(2026, 3, 10, 12, 0, 0)};
  Rules rules_;
};

// Before the check, the marker was set first and the hard counter charged before the soft one
// failed: the retry answered `already` and the soft counter and spend total never got the cost.
TEST_F(ScriptPartialWrites, ReconcileWithAWrongTypedCounterSetsNoMarkerAndItsRetryAddsOnce) {
  const Reconciliation r =
      Reconciliation::of(planFor(kUsd), Settlement{"local", 2 * kUsd, 0, now()});
  makeString(counterKey(1));
  const auto failed = ReconcileScript::parse(
      keys_, eval(reconcileLuaSource(), ReconcileScript::call(keys_, r, now())));
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error.find("WRONGTYPE"), std::string::npos) << failed.error;
  EXPECT_FALSE(exists(ReconcileScript::markerKey(keys_, "local")));
  EXPECT_FALSE(exists(counterKey(0)));
  EXPECT_FALSE(exists(spendKey()));

  store_->run({"DEL", counterKey(1)});
  const auto added = ReconcileScript::parse(
      keys_, eval(reconcileLuaSource(), ReconcileScript::call(keys_, r, now())));
  ASSERT_TRUE(added.ok()) << added.error;
  EXPECT_EQ(added.value->outcome, ReconcileOutcome::Added);
  const auto again = ReconcileScript::parse(
      keys_, eval(reconcileLuaSource(), ReconcileScript::call(keys_, r, now())));
  ASSERT_TRUE(again.ok()) << again.error;
  EXPECT_EQ(again.value->outcome, ReconcileOutcome::AlreadyReconciled);
  EXPECT_EQ(field(counterKey(0), "spent"), 2 * kUsd);
  EXPECT_EQ(field(counterKey(1), "spent"), 2 * kUsd);
  EXPECT_EQ(driver_->spend(planFor(kUsd).spend->key), 2 * kUsd);
}

// Before the check, the reservation left the expiry index before the spend counter failed: it
// stayed active and would never have expired.
TEST_F(ScriptPartialWrites, SettleWithAWrongTypedSpendCounterKeepsTheReservationDue) {
  ASSERT_TRUE(driver_->admit(planFor(3 * kUsd), "a", now() + 1min).allowed());
  store_->run({"HSET", spendKey(), "not", "a string"});
  StoreResult<SettleResult> failed;
  store_->settle(Settlement{"a", kUsd, 0, now()}, [&](auto r) { failed = std::move(r); });
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error.find("WRONGTYPE"), std::string::npos) << failed.error;
  EXPECT_TRUE(store_->run({"ZSCORE", keys_.expiries(), keys_.reservation("a")}).toInt());
  EXPECT_EQ(store_->run({"HGET", keys_.reservation("a"), "state"}).str, "active");
  EXPECT_EQ(field(counterKey(0), "reserved"), 3 * kUsd);

  store_->run({"DEL", spendKey()});
  EXPECT_EQ(driver_->settle("a", kUsd, 0, now()).outcome, SettleOutcome::Settled);
  EXPECT_EQ(driver_->settle("a", kUsd, 0, now()).outcome, SettleOutcome::AlreadySettled);
  EXPECT_EQ(field(counterKey(0), "spent"), kUsd);
  EXPECT_EQ(field(counterKey(0), "reserved"), 0);
  EXPECT_EQ(driver_->spend(planFor(kUsd).spend->key), kUsd);
}

// The sweep runs in every call of every caller: a due record with a wrong-typed counter must
// neither fail the call (it would stay due and fail every later one: no admission anywhere) nor
// change that counter. Its other counters expire as usual, and it leaves the index.
TEST_F(ScriptPartialWrites, ExpiryWithAWrongTypedCounterExpiresTheOthersAndFailsNoCall) {
  rules_.budgets.push_back(hardBudget("hourly", 10 * kUsd, Scope::Global, Period::Hour));
  ASSERT_TRUE(driver_->admit(planFor(3 * kUsd), "a", now() + 1min).allowed());
  makeString(counterKey(2));
  clock_.advance(1min);
  // An unrelated admission (its own budget) sweeps the expired record: allowed, every time.
  Rules other;
  other.budgets = {hardBudget("other", 10 * kUsd)};
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(
        driver_->admit(plan(other, caller(), kUsd, 0, now()), "b" + std::to_string(i), now() + 1min)
            .allowed())
        << "attempt " << i;
  }
  EXPECT_FALSE(store_->run({"ZSCORE", keys_.expiries(), keys_.reservation("a")}).toInt());
  EXPECT_EQ(store_->run({"HGET", keys_.reservation("a"), "state"}).str, "expired");
  EXPECT_EQ(store_->run({"GET", counterKey(2)}).str, "not a hash");
  EXPECT_EQ(field(counterKey(0), "spent"), 3 * kUsd);  // charged once, as expired
  EXPECT_EQ(field(counterKey(0), "reserved"), 0);
}

// Before the check, the sequence number was stored first and the budget entry applied before
// the spend entry failed: the retry (same seq) was a replay and the spend total never got it.
TEST_F(ScriptPartialWrites, LeaseFlushWithAWrongTypedEntryStoresNoSequenceAndItsRetryAppliesOnce) {
  const EnforcementPlan p = planFor(kUsd);
  LeaseFlush flush;
  flush.seq = 1;
  flush.now = now();
  flush.budgets.push_back(LeaseBudgetEntry{p.budgets[0], 2 * kUsd, 0, 0, 0});
  flush.spends.push_back(LeaseSpendEntry{*p.spend, 2 * kUsd});
  const ScriptCall call = LeaseScript::call(keys_, "inst", flush, LeaseSizing{});
  store_->run({"HSET", spendKey(), "not", "a string"});
  const auto failed = LeaseScript::parse(flush, eval(leaseLuaSource(), call));
  ASSERT_FALSE(failed.ok());
  EXPECT_FALSE(exists(keys_.leaseSequence("inst")));
  EXPECT_FALSE(exists(counterKey(0)));

  store_->run({"DEL", spendKey()});
  const auto applied = LeaseScript::parse(flush, eval(leaseLuaSource(), call));
  ASSERT_TRUE(applied.ok()) << applied.error;
  EXPECT_FALSE(applied.value->replay);
  const auto replayed = LeaseScript::parse(flush, eval(leaseLuaSource(), call));
  ASSERT_TRUE(replayed.ok()) << replayed.error;
  EXPECT_TRUE(replayed.value->replay);
  EXPECT_EQ(field(counterKey(0), "spent"), 2 * kUsd);
  EXPECT_EQ(driver_->spend(p.spend->key), 2 * kUsd);
}

}  // namespace
}  // namespace spendgate::core::testing
