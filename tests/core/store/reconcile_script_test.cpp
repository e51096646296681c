// reconcile.lua (fail_open reconciliation) on a real redis-server, through ReconcileScript, next
// to the other scripts run by ScriptCounterStore.

#include "core/store/reconcile_script.hpp"

#include <gtest/gtest.h>

#include "core/store/lua_sources.hpp"
#include "tests/core/store/store_test_support.hpp"

namespace spendgate::core::testing {
namespace {

using namespace std::chrono_literals;

std::string commonBlock(std::string_view script) {
  const auto begin = script.find("-- BEGIN common");
  const auto end = script.find("-- END common");
  if (begin == std::string::npos || end == std::string::npos) return {};
  return std::string(script.substr(begin, end - begin));
}

TEST(ReconcileScriptText, SharesTheHelperBlockAndIsEmbedded) {
  const std::string admit = commonBlock(readLuaScript("admit.lua"));
  ASSERT_FALSE(admit.empty());
  EXPECT_EQ(commonBlock(readLuaScript("reconcile.lua")), admit);
  EXPECT_EQ(reconcileLuaSource(), readLuaScript("reconcile.lua"));
  EXPECT_EQ(admitLuaSource(), readLuaScript("admit.lua"));
  EXPECT_EQ(settleLuaSource(), readLuaScript("settle.lua"));
  EXPECT_EQ(budgetsLuaSource(), readLuaScript("budgets.lua"));
}

TEST(ReconcileScriptText, CallLayout) {
  Rules rules;
  rules.budgets = {hardBudget("daily", 10 * kUsd)};
  rules.emergency_stop.auto_stop = EmergencyStopRule::Auto{kUsd, Period::Day, 1h};
  const auto now = utc(2026, 3, 10, 12);
  const EnforcementPlan p = plan(rules, caller(), kUsd, 0, now);
  const Reconciliation r = Reconciliation::of(p, Settlement{"id:1", -5, 3, now});
  EXPECT_EQ(r.actual_cost, 0);  // negative counts as 0
  const StoreKeys keys("{sg}:");
  const ScriptCall call = ReconcileScript::call(keys, r, now + 1h);
  ASSERT_EQ(call.keys.size(), 6u);
  EXPECT_EQ(call.keys[0], "{sg}:reconciled:id%3A1");
  EXPECT_EQ(call.keys[2], keys.reservation("id:1"));
  EXPECT_EQ(call.keys[4], "{sg}:" + p.budgets[0].counter_key);
  EXPECT_EQ(call.keys[5], "{sg}:" + p.spend->key);
  ASSERT_EQ(call.args.size(), 7u + 8u);
  EXPECT_EQ(call.args[0], std::to_string(unixMillis(now + 1h)));
  EXPECT_EQ(call.args[3], "0");
  EXPECT_EQ(call.args[4], "1");
  EXPECT_EQ(call.args[5], "1");
  EXPECT_TRUE(ReconcileScript::call(keys, r, now, true).args[0].empty());
}

class ReconcileOnRedis : public ::testing::Test {
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

  StoreResult<ReconcileResult> reconcile(const Reconciliation& r) {
    const ScriptCall call = ReconcileScript::call(keys_, r, clock_.now());
    std::vector<std::string> command = {"EVAL", std::string(reconcileLuaSource()),
                                        std::to_string(call.keys.size())};
    command.insert(command.end(), call.keys.begin(), call.keys.end());
    command.insert(command.end(), call.args.begin(), call.args.end());
    return ReconcileScript::parse(keys_, store_->run(command));
  }

  EnforcementPlan planFor(Picodollars worst) {
    return plan(rules_, caller(), worst, 0, clock_.now());
  }

  RedisTestServer* server_ = nullptr;
  StoreKeys keys_{"t:"};
  std::shared_ptr<ScriptCounterStore> store_;
  std::unique_ptr<StoreDriver> driver_;
  ManualClock clock_{utc(2026, 3, 10, 12, 0, 0)};
  Rules rules_;
};

TEST_F(ReconcileOnRedis, AddsOnceToEveryCounterOnTopOfWhatIsThere) {
  const auto now = clock_.now();
  ASSERT_TRUE(driver_->admit(planFor(2 * kUsd), "shared", now + 1min).allowed());
  driver_->settle("shared", kUsd, 0, now);

  const Picodollars odd = (Picodollars{1} << 53) + 1;
  const Reconciliation r = Reconciliation::of(planFor(3 * kUsd), Settlement{"local", odd, 9, now});
  const auto first = reconcile(r);
  ASSERT_TRUE(first.ok()) << first.error;
  EXPECT_EQ(first.value->outcome, ReconcileOutcome::Added);
  EXPECT_EQ(first.value->period_spend, kUsd + odd);
  ASSERT_EQ(first.value->budgets.size(), 2u);
  EXPECT_EQ(first.value->budgets[0].spent, kUsd + odd);
  EXPECT_EQ(first.value->budgets[0].reserved, 0);
  EXPECT_EQ(first.value->budgets[1].spent, kUsd + odd);  // soft too

  const auto second = reconcile(r);
  ASSERT_TRUE(second.ok()) << second.error;
  EXPECT_EQ(second.value->outcome, ReconcileOutcome::AlreadyReconciled);
  EXPECT_EQ(driver_->counter("daily", "", now).spent, kUsd + odd);
  EXPECT_EQ(driver_->spend(spendCounterKey(Period::Day, now)), kUsd + odd);
  const auto ttl = store_->run({"PTTL", ReconcileScript::markerKey(keys_, "local")}).toInt();
  ASSERT_TRUE(ttl);
  EXPECT_GT(*ttl, kReconcileMarkerRetention.count() - 60000);
}

TEST_F(ReconcileOnRedis, CreatesMissingCountersThatListAndExpire) {
  const auto now = clock_.now();
  const Reconciliation r = Reconciliation::of(planFor(kUsd), Settlement{"x", 3 * kUsd, 0, now});
  ASSERT_TRUE(reconcile(r).ok());
  const auto listed = driver_->budgets(now);
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].name, "daily");
  EXPECT_EQ(listed[0].limit, 10 * kUsd);
  EXPECT_EQ(listed[0].mode, BudgetMode::Hard);
  EXPECT_EQ(listed[0].spent, 3 * kUsd);
  EXPECT_EQ(listed[0].window.start, utc(2026, 3, 10));
  EXPECT_EQ(listed[1].mode, BudgetMode::Soft);
  const auto ttl = store_->run({"PTTL", keys_.counter(r.budgets[0].counter_key)}).toInt();
  ASSERT_TRUE(ttl);
  EXPECT_GT(*ttl, 12 * 3600 * 1000 - 1000);  // to the end of the day, plus a minute
  EXPECT_LE(*ttl, 12 * 3600 * 1000 + 60000);
  // The counters then enforce: 3 spent + 8 > 10.
  EXPECT_FALSE(driver_->admit(planFor(8 * kUsd), "y", now + 1min).allowed());
  EXPECT_TRUE(driver_->admit(planFor(7 * kUsd), "z", now + 1min).allowed());
}

TEST_F(ReconcileOnRedis, ReleasesASharedReservationOfTheSameId) {
  // Redis admitted "lost" but its reply never arrived, so the instance admitted it locally.
  const auto now = clock_.now();
  ASSERT_TRUE(driver_->admit(planFor(4 * kUsd), "lost", now + 10min).allowed());
  EXPECT_EQ(driver_->counter("daily", "", now).reserved, 4 * kUsd);
  const Reconciliation r = Reconciliation::of(planFor(4 * kUsd), Settlement{"lost", kUsd, 0, now});
  ASSERT_TRUE(reconcile(r).ok());
  const auto c = driver_->counter("daily", "", now);
  EXPECT_EQ(c.reserved, 0);
  EXPECT_EQ(c.spent, kUsd);
  // A settle through the shared store could not count it a second time.
  EXPECT_EQ(driver_->settle("lost", kUsd, 0, now).outcome, SettleOutcome::AlreadySettled);
  EXPECT_EQ(driver_->counter("daily", "", now).spent, kUsd);
}

TEST_F(ReconcileOnRedis, AnExpiredSharedReservationIsChargedOnceNotTwice) {
  // As above, but the lost admission expired first: expiry charged its worst case as spent
  // (it may have been billed), and the real cost now replaces that charge.
  const auto now = clock_.now();
  ASSERT_TRUE(driver_->admit(planFor(4 * kUsd), "lost", now + 1min).allowed());
  clock_.advance(1min);
  ASSERT_TRUE(driver_->admit(planFor(kUsd), "sweeps", clock_.now() + 10min).allowed());
  const std::string counter = keys_.counter(planFor(kUsd).budgets[0].counter_key);
  EXPECT_EQ(driver_->counter("daily", "", clock_.now()).spent, 4 * kUsd);
  EXPECT_EQ(store_->run({"HGET", counter, "lapsed"}).toInt(), 4 * kUsd);
  const Reconciliation r = Reconciliation::of(planFor(4 * kUsd), Settlement{"lost", kUsd, 0, now});
  ASSERT_TRUE(reconcile(r).ok());
  const auto c = driver_->counter("daily", "", clock_.now());
  EXPECT_EQ(c.reserved, kUsd);  // "sweeps"
  EXPECT_EQ(c.spent, kUsd);
  EXPECT_EQ(store_->run({"HGET", counter, "lapsed"}).toInt(), 0);
  EXPECT_EQ(driver_->settle("lost", kUsd, 0, clock_.now()).outcome, SettleOutcome::AlreadySettled);
}

TEST_F(ReconcileOnRedis, APastPeriodIsChargedWhereItWasAdmitted) {
  const auto yesterday = clock_.now() - 24h;
  const Reconciliation r = Reconciliation::of(plan(rules_, caller(), kUsd, 0, yesterday),
                                              Settlement{"old", 2 * kUsd, 0, yesterday});
  ASSERT_TRUE(reconcile(r).ok());
  EXPECT_EQ(driver_->counter("daily", "", clock_.now()).spent, 0);
  EXPECT_EQ(driver_->spend(spendCounterKey(Period::Day, yesterday)), 2 * kUsd);
  const auto ttl = store_->run({"PTTL", keys_.counter(r.budgets[0].counter_key)}).toInt();
  ASSERT_TRUE(ttl);
  EXPECT_LE(*ttl, 60000);  // its period is over: kept only briefly
}

TEST_F(ReconcileOnRedis, ScriptErrorsAreStoreErrors) {
  const auto bad = ReconcileScript::parse(keys_, ScriptValue::fromError("ERR boom"));
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.error.find("reconcile.lua"), std::string::npos);
  EXPECT_FALSE(ReconcileScript::parse(keys_, ScriptValue::fromArray({})).ok());
  EXPECT_FALSE(
      ReconcileScript::parse(keys_, ScriptValue::fromArray({ScriptValue::fromString("what")}))
          .ok());
}

}  // namespace
}  // namespace spendgate::core::testing
