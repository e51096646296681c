// The counter-store contract (tests/core/store/counter_store_contract.hpp) against the store a
// multi-instance deployment uses: LeasingCounterStore around RedisCounterStore, on a real
// redis-server (skipped when redis-server is not installed). Where its documented semantics
// differ (docs/store.md "Leased slices"), the scenario says so with `leases()`.

#include <future>

#include "proxy/logging/logger.hpp"
#include "proxy/store/leasing_counter_store.hpp"
#include "proxy/store/redis_counter_store.hpp"
#include "tests/core/store/counter_store_contract.hpp"
#include "tests/proxy/store/store_test_loops.hpp"

namespace spendgate::core::testing {

namespace {

using namespace std::chrono_literals;

/**
 * One LeasingCounterStore on its own loop thread, with its book on the test's manual clock and
 * its flush timer off. After every admit and settle the harness flushes once, as the 50 ms timer
 * would between two requests: the run is deterministic, and slices are taken (and spend sent) as
 * early as they can be. Every call completes before it returns (StoreDriver).
 */
class LeasingHarness final : public CounterStore {
public:
  /** @param fresh empty Redis first (false: a second instance on the same data) */
  LeasingHarness(RedisTestServer& server, ManualClock& clock, bool fresh = true)
      : logger_(proxy::test::quietLogging()), loops_(1) {
    if (fresh) server.connect()->command({"FLUSHALL"});
    config::RedisConfig redis;
    redis.url = "redis://127.0.0.1:" + std::to_string(server.port()) + "/0";
    proxy::RedisCounterStore::Options redis_options;
    redis_options.admit_timeout = 5s;  // a loaded machine must not turn slow into an error
    redis_options.command_timeout = 5s;
    inner_ = proxy::RedisCounterStore::create(redis, {&loops_[0]}, logger_, redis_options);
    EXPECT_TRUE(proxy::test::eventually([&] { return inner_->up(); }));
    proxy::LeasingCounterStore::Options options;
    options.flush_interval = 1h;  // only the harness's flushes
    options.reclaim_wait = 0ms;   // one instance: no other holder to wait for
    options.clock = std::shared_ptr<const Clock>(&clock, [](const Clock*) {});
    leasing_ = proxy::LeasingCounterStore::create(inner_, {&loops_[0]}, logger_, options);
    blocking_ = std::make_unique<proxy::test::BlockingStore>(leasing_, loops_[0]);
  }

  ~LeasingHarness() override {
    std::promise<void> stopped;
    leasing_->stop([&] { stopped.set_value(); });
    stopped.get_future().wait();
    blocking_.reset();
    leasing_.reset();
    inner_.reset();
    loops_.stop();
  }

  void admit(const EnforcementPlan& plan,
             const std::string& id,
             std::chrono::system_clock::time_point expires_at,
             AdmitCallback callback) override {
    AdmissionResult result;
    blocking_->admit(plan, id, expires_at, [&](AdmissionResult r) { result = std::move(r); });
    flush();
    callback(std::move(result));
  }
  void settle(const Settlement& settlement, SettleCallback callback) override {
    StoreResult<SettleResult> result;
    blocking_->settle(settlement, [&](StoreResult<SettleResult> r) { result = std::move(r); });
    flush();
    callback(std::move(result));
  }
  void budgets(std::chrono::system_clock::time_point now, BudgetsCallback callback) override {
    blocking_->budgets(now, std::move(callback));
  }
  void spend(const std::string& key, SpendCallback callback) override {
    blocking_->spend(key, std::move(callback));
  }
  void emergencyStop(EmergencyStopCallback callback) override {
    blocking_->emergencyStop(std::move(callback));
  }
  void setEmergencyStop(const EmergencyStopState& state, EmergencyStopCallback callback) override {
    blocking_->setEmergencyStop(state, std::move(callback));
  }
  void replaceEmergencyStop(const EmergencyStopState& expected,
                            const EmergencyStopState& next,
                            EmergencyStopCallback callback) override {
    blocking_->replaceEmergencyStop(expected, next, std::move(callback));
  }
  bool up() const override { return leasing_->up(); }

  proxy::LeasingCounterStore::Stats stats() const { return leasing_->stats(); }

  void flush() {
    std::promise<bool> done;
    leasing_->flushNow([&](bool ok) { done.set_value(ok); });
    EXPECT_TRUE(done.get_future().get()) << "lease flush failed";
  }

private:
  proxy::Logger logger_;
  proxy::test::LoopThreads loops_;
  std::shared_ptr<proxy::RedisCounterStore> inner_;
  std::shared_ptr<proxy::LeasingCounterStore> leasing_;
  std::unique_ptr<proxy::test::BlockingStore> blocking_;
};

}  // namespace

ContractStore makeContractStore(const std::string& kind, ManualClock& clock) {
  EXPECT_EQ(kind, "leasing");
  RedisTestServer* server = sharedRedis();
  if (!server) return {};
  auto harness = std::make_shared<LeasingHarness>(*server, clock);
  return ContractStore{
      .owner = harness, .store = harness, .leases = true, .tick = [h = harness.get()] {
        h->flush();
      }};
}

namespace {

INSTANTIATE_TEST_SUITE_P(Stores,
                         CounterStoreContract,
                         ::testing::Values("leasing"),
                         [](const auto& info) { return info.param; });

// Replicas: two instances on one Redis, each request on one of them (its settle too), every
// admission checked against what both admitted and settled. The cap across instances is the
// product's promise (docs/store.md "Leased slices": slices count as reserved for everyone else).
class LeasingReplicas : public ::testing::TestWithParam<bool> {};

TEST_P(LeasingReplicas, TwoInstancesKeepEveryHardCap) {
  RedisTestServer* server = sharedRedis();
  if (!server) GTEST_SKIP() << "redis-server not available";
  ManualClock clock{utc(2026, 3, 10, 12, 0, 0)};
  auto a = std::make_shared<LeasingHarness>(*server, clock);
  auto b = std::make_shared<LeasingHarness>(*server, clock, false);
  StoreDriver da(*a);
  StoreDriver db(*b);
  runHardCapScenario(
      {&da, &db}, clock, true,
      [&] {
        a->flush();
        b->flush();
      },
      GetParam());
  // Slices were used on both sides, or it proves little.
  EXPECT_GE(a->stats().local_admissions, 10u);
  EXPECT_GE(b->stats().local_admissions, 10u);
}

INSTANTIATE_TEST_SUITE_P(Costs,
                         LeasingReplicas,
                         ::testing::Values(false, true),
                         [](const auto& info) {
                           return std::string(info.param ? "WithOvershoots" : "WithinWorstCases");
                         });

}  // namespace
}  // namespace spendgate::core::testing
