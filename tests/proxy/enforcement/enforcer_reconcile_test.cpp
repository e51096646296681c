// The Enforcer with the Redis store through outages: fail_closed refuses, fail_open admits and
// settles locally, then adds the real costs to Redis exactly once when it is back; failed shared
// settles are retried.

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <csignal>

#include "core/enforcement/planner.hpp"
#include "proxy/enforcement/enforcer.hpp"
#include "proxy/logging/logger.hpp"
#include "proxy/store/redis_counter_store.hpp"
#include "tests/core/store/store_test_support.hpp"
#include "tests/proxy/store/redis_server_fixture.hpp"
#include "tests/proxy/store/store_test_loops.hpp"

namespace spendgate::proxy {
namespace {

using namespace std::chrono_literals;
using core::Picodollars;
using core::testing::caller;
using core::testing::hardBudget;
using core::testing::kUsd;
using core::testing::RespConnection;
using test::eventually;
using test::LoopThreads;
using test::RedisServerFixture;
using OnUnavailable = config::RedisConfig::OnUnavailable;

config::LoggingConfig quietLogging() {
  config::LoggingConfig logging;
  logging.level = "off";
  return logging;
}

class EnforcerReconcileTest : public ::testing::Test {
protected:
  void SetUp() override {
    if (!RedisServerFixture::available()) GTEST_SKIP() << "redis-server is not installed";
    ASSERT_TRUE(server_.start()) << server_.lastError();
    loops_ = std::make_unique<LoopThreads>(2);
    core::BudgetRule soft = hardBudget("team", 10 * kUsd, core::Scope::Team);
    soft.mode = core::BudgetMode::Soft;
    rules_.budgets = {hardBudget("daily", 1000 * kUsd), soft};
    rules_.emergency_stop.auto_stop =
        core::EmergencyStopRule::Auto{1'000'000 * kUsd, core::Period::Day, 1h};
  }

  void TearDown() override {
    if (enforcer_) enforcer_->setStore(nullptr);  // the store goes before its loops
    store_.reset();
    if (loops_) loops_->stop();
  }

  void makeEnforcer(OnUnavailable mode, Enforcer::Options options = {}) {
    RedisCounterStore::Options store_options;
    store_options.max_backoff = 200ms;
    config::RedisConfig redis;
    redis.url = server_.url();
    // As the proxy does: the Enforcer first, the store once the loops exist.
    enforcer_ = std::make_unique<Enforcer>(nullptr, mode, logger_, options);
    EXPECT_FALSE(enforcer_->storeUp());
    store_ = RedisCounterStore::create(redis, loops_->pointers(), logger_, store_options);
    enforcer_->setStore(store_);
    ASSERT_TRUE(eventually([&] { return enforcer_->storeUp(); }));
  }

  core::EnforcementPlan planFor(Picodollars worst) {
    return core::plan(rules_, caller(), worst, 0, std::chrono::system_clock::now());
  }

  Enforcer::Admission admit(std::size_t loop,
                            const core::EnforcementPlan& plan,
                            const std::string& id) {
    auto future = net::co_spawn((*loops_)[loop], enforcer_->admit(plan, id, plan.now + 10min),
                                net::use_future);
    return future.get();
  }

  void settle(std::size_t loop,
              Enforcer::Admitter admitter,
              const std::string& id,
              Picodollars cost) {
    loops_->runOn(loop, [&] {
      enforcer_->settle(admitter, core::Settlement{id, cost, 100, std::chrono::system_clock::now()},
                        nullptr);
      return 0;
    });
  }

  std::unique_ptr<RespConnection> raw(const std::string& password = "") {
    auto c = RespConnection::connect(server_.port());
    if (c && !password.empty()) c->command({"AUTH", password});
    return c;
  }

  Picodollars spentOf(RespConnection& c, const std::string& plan_key) {
    return c.command({"HGET", "spendgate:" + plan_key, "spent"}).toInt().value_or(-1);
  }
  Picodollars reservedOf(RespConnection& c, const std::string& plan_key) {
    return c.command({"HGET", "spendgate:" + plan_key, "reserved"}).toInt().value_or(-1);
  }
  Picodollars totalSpend(RespConnection& c, const std::string& plan_key) {
    return c.command({"GET", "spendgate:" + plan_key}).toInt().value_or(0);
  }

  /** Makes Redis refuse every client without losing data (they cannot authenticate). */
  void lockOut() {
    auto c = raw();
    ASSERT_EQ(c->command({"CONFIG", "SET", "requirepass", "locked"}).type,
              core::ScriptValue::Type::String);
    c->command({"CLIENT", "KILL", "TYPE", "normal"});
    ASSERT_TRUE(eventually([&] { return !enforcer_->storeUp(); }, 5s));
  }
  /** Makes Redis answer every write with an error reply (OOM), connections staying up. */
  void refuseWrites(bool refuse) {
    auto c = raw();
    ASSERT_EQ(c->command({"CONFIG", "SET", "maxmemory", refuse ? "1" : "0"}).type,
              core::ScriptValue::Type::String);
  }
  /** Waits until Redis has refused a write with OOM (so the refusal is final, nothing written). */
  bool refusedOnce() {
    return eventually([&] {
      return raw()->command({"INFO", "errorstats"}).str.find("errorstat_OOM:count=") !=
             std::string::npos;
    });
  }
  /** Lets every handler already posted to `loop` run (the rounds' callbacks are posted). */
  void settleLoop(std::size_t loop) {
    loops_->runOn(loop, [] { return 0; });
  }
  void letIn() {
    auto c = raw("locked");
    ASSERT_EQ(c->command({"CONFIG", "SET", "requirepass", ""}).type,
              core::ScriptValue::Type::String);
  }

  RedisServerFixture server_;
  Logger logger_{quietLogging()};
  std::unique_ptr<LoopThreads> loops_;
  core::Rules rules_;
  std::shared_ptr<RedisCounterStore> store_;
  std::unique_ptr<Enforcer> enforcer_;
};

TEST_F(EnforcerReconcileTest, WithoutAStoreFailClosedRefuses) {
  Enforcer enforcer(nullptr, OnUnavailable::FailClosed, logger_);
  EXPECT_FALSE(enforcer.storeUp());
  auto future = net::co_spawn((*loops_)[0],
                              enforcer.admit(planFor(kUsd), "x", std::chrono::system_clock::now()),
                              net::use_future);
  const auto admission = future.get();
  EXPECT_EQ(admission.result.status, core::AdmissionResult::Status::StoreError);
  EXPECT_EQ(admission.admitter, Enforcer::Admitter::None);
}

TEST_F(EnforcerReconcileTest, FailClosedRefusesWhileRedisIsDown) {
  makeEnforcer(OnUnavailable::FailClosed);
  server_.stop();
  ASSERT_TRUE(eventually([&] { return !enforcer_->storeUp(); }, 5s));
  const auto admission = admit(0, planFor(kUsd), "x");
  EXPECT_EQ(admission.result.status, core::AdmissionResult::Status::StoreError);
  EXPECT_EQ(admission.admitter, Enforcer::Admitter::None);
  EXPECT_EQ(enforcer_->reconcileStats().local_admissions, 0u);
}

TEST_F(EnforcerReconcileTest, FailOpenCountsLocallyThenReconcilesExactlyOnce) {
  makeEnforcer(OnUnavailable::FailOpen);
  server_.stop();  // a crash: the restarted server starts empty
  ASSERT_TRUE(eventually([&] { return !enforcer_->storeUp(); }, 5s));

  constexpr int kRequests = 40;
  Picodollars sum = 0;
  core::EnforcementPlan first_plan;
  for (int i = 0; i < kRequests; ++i) {
    const std::size_t loop = static_cast<std::size_t>(i) % 2;
    const auto p = planFor(5 * kUsd);
    if (i == 0) first_plan = p;
    const std::string id = "local-" + std::to_string(i);
    const auto admission = admit(loop, p, id);
    ASSERT_TRUE(admission.result.allowed()) << admission.result.error;
    ASSERT_EQ(admission.admitter, Enforcer::Admitter::Local);
    const Picodollars cost = (Picodollars{1} << 53) / 1000 + i * 1'000'000'007LL;
    sum += cost;
    settle(loop, admission.admitter, id, cost);
  }
  auto stats = enforcer_->reconcileStats();
  EXPECT_EQ(stats.local_admissions, static_cast<std::uint64_t>(kRequests));
  EXPECT_EQ(stats.queued, static_cast<std::size_t>(kRequests));
  EXPECT_EQ(stats.reconciled, 0u);

  ASSERT_TRUE(server_.restart()) << server_.lastError();
  ASSERT_TRUE(eventually([&] {
    const auto s = enforcer_->reconcileStats();
    return s.queued == 0 && s.reconciled == static_cast<std::uint64_t>(kRequests);
  })) << enforcer_->reconcileStats().queued;

  auto c = raw();
  const std::string daily = first_plan.budgets.at(0).counter_key;
  const std::string team = first_plan.budgets.at(1).counter_key;
  const std::string spend = first_plan.spend->key;
  EXPECT_EQ(spentOf(*c, daily), sum);
  EXPECT_EQ(reservedOf(*c, daily), 0);
  EXPECT_EQ(spentOf(*c, team), sum);
  EXPECT_EQ(totalSpend(*c, spend), sum);
  // The counters a reconciliation creates are listed like any other. (The drain ran on the
  // first loop that reconnected; the listing goes through loop 0, so wait for every loop.)
  ASSERT_TRUE(eventually([&] { return enforcer_->storeUp(); }));
  std::optional<core::StoreResult<std::vector<core::BudgetSnapshot>>> listed;
  std::promise<void> listed_done;
  store_->budgets(std::chrono::system_clock::now(), [&](auto r) {
    listed = std::move(r);
    listed_done.set_value();
  });
  listed_done.get_future().wait();
  ASSERT_TRUE(listed && listed->ok()) << (listed ? listed->error : "");
  ASSERT_EQ(listed->value->size(), 2u);
  EXPECT_EQ((*listed->value)[0].name, "daily");
  EXPECT_EQ((*listed->value)[0].spent, sum);
  EXPECT_EQ((*listed->value)[0].limit, 1000 * kUsd);

  // A second pass adds nothing: nothing is queued, and replaying an entry finds its marker.
  enforcer_->reconcileNow();
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(enforcer_->reconcileStats().reconciled, static_cast<std::uint64_t>(kRequests));
  core::Reconciliation again;
  again.reservation_id = "local-0";
  again.budgets = first_plan.budgets;
  again.spend = first_plan.spend;
  again.actual_cost = 7 * kUsd;
  std::promise<core::StoreResult<core::ReconcileResult>> replayed;
  store_->reconcile(again, [&](auto r) { replayed.set_value(std::move(r)); });
  const auto r = replayed.get_future().get();
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.value->outcome, core::ReconcileOutcome::AlreadyReconciled);
  EXPECT_EQ(spentOf(*c, daily), sum);
  EXPECT_EQ(totalSpend(*c, spend), sum);

  // Back to normal: new requests are admitted by Redis.
  const auto shared = admit(1, planFor(kUsd), "shared-after");
  EXPECT_EQ(shared.admitter, Enforcer::Admitter::Shared);
  settle(1, shared.admitter, "shared-after", kUsd);
  ASSERT_TRUE(eventually([&] { return spentOf(*c, daily) == sum + kUsd; }));
}

TEST_F(EnforcerReconcileTest, OutageKeepsExistingCountsAndRetriesAFailedSharedSettle) {
  makeEnforcer(OnUnavailable::FailOpen);
  const auto p = planFor(2 * kUsd);
  const std::string daily = p.budgets.at(0).counter_key;
  for (int i = 0; i < 3; ++i) {
    const std::string id = "before-" + std::to_string(i);
    const auto a = admit(0, p, id);
    ASSERT_EQ(a.admitter, Enforcer::Admitter::Shared);
    settle(0, a.admitter, id, kUsd);
  }
  auto c = raw();
  ASSERT_TRUE(eventually([&] { return spentOf(*c, daily) == 3 * kUsd; }));
  // Admitted by Redis just before the outage, settled during it.
  const auto in_flight = admit(1, p, "in-flight");
  ASSERT_EQ(in_flight.admitter, Enforcer::Admitter::Shared);
  EXPECT_EQ(reservedOf(*c, daily), 2 * kUsd);

  lockOut();
  settle(1, in_flight.admitter, "in-flight", kUsd / 2);
  Picodollars sum = 0;
  for (int i = 0; i < 10; ++i) {
    const std::string id = "during-" + std::to_string(i);
    const auto a = admit(static_cast<std::size_t>(i) % 2, planFor(2 * kUsd), id);
    ASSERT_EQ(a.admitter, Enforcer::Admitter::Local) << a.result.error;
    sum += kUsd + i;
    settle(static_cast<std::size_t>(i) % 2, a.admitter, id, kUsd + i);
  }
  ASSERT_TRUE(eventually([&] { return enforcer_->reconcileStats().queued == 11; }));

  letIn();
  ASSERT_TRUE(eventually([&] { return enforcer_->reconcileStats().queued == 0; }));
  const auto stats = enforcer_->reconcileStats();
  EXPECT_EQ(stats.reconciled, 10u);
  EXPECT_EQ(stats.settled, 1u);
  EXPECT_EQ(stats.dropped, 0u);
  c = raw();
  EXPECT_EQ(spentOf(*c, daily), 3 * kUsd + kUsd / 2 + sum);
  EXPECT_EQ(reservedOf(*c, daily), 0);  // the retried settle released the reservation
  EXPECT_EQ(totalSpend(*c, p.spend->key), 3 * kUsd + kUsd / 2 + sum);
}

TEST_F(EnforcerReconcileTest, TheQueueIsBounded) {
  Enforcer::Options options;
  options.replay_limit = 3;
  makeEnforcer(OnUnavailable::FailOpen, options);
  server_.stop();
  ASSERT_TRUE(eventually([&] { return !enforcer_->storeUp(); }, 5s));
  for (int i = 0; i < 5; ++i) {
    const std::string id = "r" + std::to_string(i);
    const auto a = admit(0, planFor(kUsd), id);
    ASSERT_EQ(a.admitter, Enforcer::Admitter::Local);
    settle(0, a.admitter, id, kUsd);
  }
  const auto stats = enforcer_->reconcileStats();
  EXPECT_EQ(stats.queued, 3u);
  EXPECT_EQ(stats.dropped, 2u);
  ASSERT_TRUE(server_.restart());
  ASSERT_TRUE(eventually([&] { return enforcer_->reconcileStats().queued == 0; }));
  auto c = raw();
  EXPECT_EQ(spentOf(*c, planFor(kUsd).budgets.at(0).counter_key), 3 * kUsd);
}

// Audit 9a F2: a cost queued after the store came back (a stream admitted locally that ends after
// the outage) waited for the next request: the successful round left the delay of an earlier
// failed one in place, and nothing but a request or a reconnect started another.
TEST_F(EnforcerReconcileTest, ACostQueuedAfterTheStoreCameBackIsSentWithoutANewRequest) {
  Enforcer::Options options;
  options.replay_retry_delay = 1h;  // set by the failed round below; never waited out here
  makeEnforcer(OnUnavailable::FailOpen, options);
  server_.stop();
  ASSERT_TRUE(eventually([&] { return store_->connectedCount() == 0; }, 5s));
  const auto p = planFor(2 * kUsd);
  const auto early = admit(0, p, "early");
  const auto late = admit(0, p, "late");
  ASSERT_EQ(early.admitter, Enforcer::Admitter::Local);
  ASSERT_EQ(late.admitter, Enforcer::Admitter::Local);
  settle(0, early.admitter, "early", kUsd);  // its round finds Redis away
  settleLoop(0);
  EXPECT_EQ(enforcer_->reconcileStats().queued, 1u);

  ASSERT_TRUE(server_.restart()) << server_.lastError();
  ASSERT_TRUE(eventually([&] {
    const auto s = enforcer_->reconcileStats();
    return s.queued == 0 && s.reconciled == 1;
  }));
  ASSERT_TRUE(eventually([&] { return enforcer_->storeUp(); }));
  settleLoop(0);  // the reconnects' listeners have run: none comes later
  settleLoop(1);
  settle(0, late.admitter, "late", kUsd / 4);

  EXPECT_TRUE(eventually(
      [&] {
        const auto s = enforcer_->reconcileStats();
        return s.queued == 0 && s.reconciled == 2;
      },
      5s))
      << enforcer_->reconcileStats().queued << " still queued";
  auto c = raw();
  EXPECT_EQ(spentOf(*c, p.budgets.at(0).counter_key), kUsd + kUsd / 4);
}

// A round that failed while the connections stayed up (here Redis refused writes) was retried
// only by the next request; the proxy's poll of the store (refresh(), every 500 ms) retries it.
TEST_F(EnforcerReconcileTest, ThePollOfTheStoreRetriesWhatWaitsWithoutARequest) {
  Enforcer::Options options;
  options.replay_retry_delay = 50ms;
  makeEnforcer(OnUnavailable::FailOpen, options);
  server_.stop();
  ASSERT_TRUE(eventually([&] { return !enforcer_->storeUp(); }, 5s));
  const auto p = planFor(2 * kUsd);
  const auto a = admit(0, p, "refused-once");
  ASSERT_EQ(a.admitter, Enforcer::Admitter::Local);
  ASSERT_TRUE(server_.restart()) << server_.lastError();
  ASSERT_TRUE(eventually([&] { return enforcer_->storeUp(); }));
  refuseWrites(true);
  settle(0, a.admitter, "refused-once", kUsd);
  ASSERT_TRUE(refusedOnce());
  refuseWrites(false);
  EXPECT_EQ(enforcer_->reconcileStats().reconciled, 0u);

  // What ProxyServer does every 500 ms; no request, no reconnect.
  EXPECT_TRUE(eventually(
      [&] {
        loops_->runOn(0, [&] {
          enforcer_->refresh();
          return 0;
        });
        std::this_thread::sleep_for(20ms);
        return enforcer_->reconcileStats().reconciled == 1;
      },
      5s));
  EXPECT_EQ(enforcer_->reconcileStats().queued, 0u);
  EXPECT_EQ(enforcer_->reconcileStats().dropped, 0u);
  auto c = raw();
  EXPECT_EQ(spentOf(*c, p.budgets.at(0).counter_key), kUsd);
}

// Shutdown (SIGTERM): what waits for Redis is sent before the store stops; what cannot be sent
// within the wait is reported (and logged) with its cost.
TEST_F(EnforcerReconcileTest, FinishReplaysSendsWhatWaitsAndReportsWhatItCannot) {
  Enforcer::Options options;
  options.replay_retry_delay = 1h;  // only finishReplays() may send it
  makeEnforcer(OnUnavailable::FailOpen, options);
  server_.stop();
  ASSERT_TRUE(eventually([&] { return !enforcer_->storeUp(); }, 5s));
  const auto p = planFor(2 * kUsd);
  const auto first = admit(0, p, "first");
  const auto second = admit(0, p, "second");
  ASSERT_TRUE(server_.restart()) << server_.lastError();
  ASSERT_TRUE(eventually([&] { return enforcer_->storeUp(); }));
  refuseWrites(true);
  settle(0, first.admitter, "first", kUsd);
  ASSERT_TRUE(refusedOnce());
  refuseWrites(false);

  const auto finish = [&](std::chrono::milliseconds limit) {
    std::promise<Enforcer::Unsent> left;
    enforcer_->finishReplays((*loops_)[0], limit, [&](Enforcer::Unsent u) { left.set_value(u); });
    return left.get_future().get();
  };
  const auto sent = finish(5s);
  EXPECT_EQ(sent.entries, 0u);
  EXPECT_EQ(sent.cost, 0);
  EXPECT_EQ(enforcer_->reconcileStats().reconciled, 1u);
  auto c = raw();
  EXPECT_EQ(spentOf(*c, p.budgets.at(0).counter_key), kUsd);

  server_.stop();
  ASSERT_TRUE(eventually([&] { return store_->connectedCount() == 0; }, 5s));
  settle(0, second.admitter, "second", 3 * kUsd);
  const auto unsent = finish(300ms);
  EXPECT_EQ(unsent.entries, 1u);
  EXPECT_EQ(unsent.cost, 3 * kUsd);
}

TEST_F(EnforcerReconcileTest, FinishReplaysWaitsForASettleStillOnItsWay) {
  // A settle sent to Redis and not answered yet is in no queue: the shutdown must wait for it
  // (and count it when it cannot), not stop the store under it unreported.
  makeEnforcer(OnUnavailable::FailClosed);
  const auto p = planFor(2 * kUsd);
  const auto admitted = admit(0, p, "late");
  ASSERT_EQ(admitted.admitter, Enforcer::Admitter::Shared);
  ASSERT_EQ(::kill(server_.pid(), SIGSTOP), 0);
  settle(0, admitted.admitter, "late", kUsd);  // written, no answer while Redis is stopped
  std::promise<Enforcer::Unsent> left;
  enforcer_->finishReplays((*loops_)[0], 300ms, [&](Enforcer::Unsent u) { left.set_value(u); });
  const auto unsent = left.get_future().get();
  ASSERT_EQ(::kill(server_.pid(), SIGCONT), 0);
  EXPECT_EQ(unsent.entries, 1u);
  EXPECT_EQ(unsent.cost, kUsd);
  // Once Redis runs again the settle lands (or its retry does): nothing is counted twice.
  auto c = raw();
  EXPECT_TRUE(eventually([&] { return spentOf(*c, p.budgets.at(0).counter_key) == kUsd; }, 5s));
}

}  // namespace
}  // namespace spendgate::proxy
