// Enforcer::refresh (the proxy's twice-a-second poll) stores a stop that ran out as off and tells
// the observer once. The stops here end in the past by construction: nothing waits on the clock.

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <vector>

#include "core/enforcement/emergency_stop.hpp"
#include "core/enforcement/planner.hpp"
#include "core/store/memory_counter_store.hpp"
#include "proxy/enforcement/enforcer.hpp"
#include "proxy/logging/logger.hpp"

namespace spendgate::proxy {
namespace {

using namespace std::chrono_literals;
using core::EmergencyStopState;

config::LoggingConfig quietLogging() {
  config::LoggingConfig logging;
  logging.level = "off";
  return logging;
}

/**
 * A memory store on which another instance sets `late` right after the next emergency-stop read
 * has taken its answer: the read's caller then writes on a state that is already gone.
 */
class StopSetAfterReadStore final : public core::CounterStore {
public:
  std::optional<EmergencyStopState> late;

  void admit(const core::EnforcementPlan& plan,
             const std::string& id,
             std::chrono::system_clock::time_point expires_at,
             AdmitCallback callback) override {
    inner_.admit(plan, id, expires_at, std::move(callback));
  }
  void settle(const core::Settlement& settlement, SettleCallback callback) override {
    inner_.settle(settlement, std::move(callback));
  }
  void budgets(std::chrono::system_clock::time_point now, BudgetsCallback callback) override {
    inner_.budgets(now, std::move(callback));
  }
  void spend(const std::string& key, SpendCallback callback) override {
    inner_.spend(key, std::move(callback));
  }
  void emergencyStop(EmergencyStopCallback callback) override {
    core::StoreResult<EmergencyStopState> read;
    inner_.emergencyStop([&](auto result) { read = std::move(result); });
    if (late) {
      inner_.setEmergencyStop(*late, [](auto) {});
      late.reset();
    }
    callback(std::move(read));
  }
  void setEmergencyStop(const EmergencyStopState& state, EmergencyStopCallback callback) override {
    inner_.setEmergencyStop(state, std::move(callback));
  }
  void replaceEmergencyStop(const EmergencyStopState& expected,
                            const EmergencyStopState& next,
                            EmergencyStopCallback callback) override {
    inner_.replaceEmergencyStop(expected, next, std::move(callback));
  }
  bool up() const override { return true; }

private:
  core::MemoryCounterStore inner_;
};

class EnforcerEmergencyStopTest : public ::testing::Test {
protected:
  void SetUp() override {
    enforcer_.setObserver({{},
                           [this](const EmergencyStopState& before, const EmergencyStopState& after,
                                  std::chrono::system_clock::time_point) {
                             changes_.push_back({before, after});
                           }});
  }

  /** Puts `state` in the store the way another instance would, behind the Enforcer's back. */
  void storeBehindItsBack(const EmergencyStopState& state) {
    store_->setEmergencyStop(state, [](auto) {});
  }

  EmergencyStopState stored() {
    EmergencyStopState out;
    store_->emergencyStop([&](core::StoreResult<EmergencyStopState> state) {
      ASSERT_TRUE(state.ok());
      out = *state.value;
    });
    return out;
  }

  Logger logger_{quietLogging()};
  std::shared_ptr<core::MemoryCounterStore> store_ = std::make_shared<core::MemoryCounterStore>();
  Enforcer enforcer_{store_, config::RedisConfig::OnUnavailable::FailClosed, logger_};
  std::vector<std::pair<EmergencyStopState, EmergencyStopState>> changes_;
};

TEST_F(EnforcerEmergencyStopTest, RefreshStoresAStopThatRanOutAsOff) {
  // Another instance set a 2 s stop an hour ago, and nothing has rewritten it since.
  const auto start = std::chrono::system_clock::now() - 1h;
  const EmergencyStopState on = core::manualStop({}, "short", 2s, start);
  storeBehindItsBack(on);
  enforcer_.refresh();
  const EmergencyStopState off = core::expireEmergencyStop(on, start + 2s);
  ASSERT_FALSE(off.active);
  EXPECT_EQ(stored(), off) << "the store holds the off state";
  EXPECT_EQ(enforcer_.emergencyStop(), off);
  EXPECT_FALSE(enforcer_.emergencyStopActive());
  EXPECT_EQ(stored().reason, "");
  EXPECT_EQ(stored().since, start + 2s);
  // Never seen on here: no on -> off change reaches the observer (so no alert).
  for (const auto& [before, after] : changes_) EXPECT_FALSE(before.active || after.active);
}

TEST_F(EnforcerEmergencyStopTest, RefreshTellsTheObserverOnceWhenASeenStopRunsOut) {
  const auto now = std::chrono::system_clock::now();
  // A stop that ends in an hour, seen by this instance.
  const EmergencyStopState on = core::manualStop({}, "deploy", 1h, now);
  storeBehindItsBack(on);
  enforcer_.refresh();
  ASSERT_EQ(changes_.size(), 1u);
  EXPECT_TRUE(changes_[0].second.active);

  // The same stop as it would be had it started an hour earlier: its end is now in the past.
  EmergencyStopState ran_out = on;
  ran_out.until = now - 1s;
  // The cache still holds `on` (same since), so the timer treats it as the stop it saw.
  storeBehindItsBack(ran_out);
  enforcer_.refresh();
  ASSERT_EQ(changes_.size(), 2u);
  EXPECT_TRUE(changes_[1].first.active);
  EXPECT_FALSE(changes_[1].second.active);
  EXPECT_EQ(changes_[1].second.since, now - 1s);
  EXPECT_EQ(stored(), changes_[1].second);

  // The next tick finds the off state stored: nothing more.
  enforcer_.refresh();
  EXPECT_EQ(changes_.size(), 2u);
}

TEST_F(EnforcerEmergencyStopTest, RefreshDoesNotOverwriteANewerStopThisInstanceSet) {
  const auto now = std::chrono::system_clock::now();
  EmergencyStopState old_stop = core::manualStop({}, "old", 1s, now - 1h);
  // This instance has since set a new stop (its cache), but the store answer is the old one:
  // the read raced the write. The timer must not turn the new stop off.
  const EmergencyStopState fresh = core::manualStop({}, "fresh", std::nullopt, now);
  bool done = false;
  enforcer_.changeEmergencyStop([&](const EmergencyStopState&) { return fresh; },
                                [&](auto result) { done = result.ok(); });
  ASSERT_TRUE(done);
  storeBehindItsBack(old_stop);
  enforcer_.refresh();
  EXPECT_EQ(enforcer_.emergencyStop(), fresh);
  EXPECT_TRUE(enforcer_.emergencyStopActive());
  EXPECT_EQ(stored(), old_stop) << "no expiry written over what this instance set";
}

TEST(EnforcerEmergencyStopRace, AStopAnotherInstanceSetsWhileTheExpiryIsReadSurvives) {
  Logger logger{quietLogging()};
  auto store = std::make_shared<StopSetAfterReadStore>();
  Enforcer enforcer{store, config::RedisConfig::OnUnavailable::FailClosed, logger};
  const auto now = std::chrono::system_clock::now();
  const EmergencyStopState ran_out = core::manualStop({}, "old", 1s, now - 1h);
  store->setEmergencyStop(ran_out, [](auto) {});
  // Between this instance's read of the old stop and its write of the expiry, another instance
  // turns on a new stop. Last writer wins would turn that one off.
  const EmergencyStopState fresh = core::manualStop({}, "fresh", std::nullopt, now);
  store->late = fresh;
  enforcer.refresh();
  EmergencyStopState held;
  store->emergencyStop([&](auto result) { held = *result.value; });
  EXPECT_EQ(held, fresh) << "the new stop was overwritten by the old one's expiry";
  EXPECT_EQ(enforcer.emergencyStop(), fresh) << "and this instance follows the store";
  EXPECT_TRUE(enforcer.emergencyStopActive());
}

TEST_F(EnforcerEmergencyStopTest, ActiveFlagFollowsEveryChangeOfTheState) {
  // Requests read the flag first and copy the state only when it says on.
  EXPECT_FALSE(enforcer_.emergencyStopActive());
  const auto now = std::chrono::system_clock::now();
  const EmergencyStopState on = core::manualStop({}, "restored", std::nullopt, now);
  enforcer_.restoreEmergencyStop(on);
  EXPECT_TRUE(enforcer_.emergencyStopActive());
  enforcer_.restoreEmergencyStop(EmergencyStopState{});
  EXPECT_FALSE(enforcer_.emergencyStopActive());
  bool done = false;
  enforcer_.changeEmergencyStop([&](const EmergencyStopState&) { return on; },
                                [&](auto result) { done = result.ok(); });
  ASSERT_TRUE(done);
  EXPECT_TRUE(enforcer_.emergencyStopActive());
  done = false;
  enforcer_.changeEmergencyStop([&](const EmergencyStopState&) { return EmergencyStopState{}; },
                                [&](auto result) { done = result.ok(); });
  ASSERT_TRUE(done);
  EXPECT_FALSE(enforcer_.emergencyStopActive());
}

// Another instance set the stop; this one's poll has not run yet. A request the store refuses
// for it shows it at once (metrics, /admin/status), not up to a poll later.
TEST_F(EnforcerEmergencyStopTest, ARefusalByAStopNotYetPolledShowsItAtOnce) {
  const auto now = std::chrono::system_clock::now();
  const EmergencyStopState on = core::manualStop({}, "set elsewhere", std::nullopt, now);
  storeBehindItsBack(on);
  EXPECT_FALSE(enforcer_.emergencyStopActive());
  core::Rules rules;
  core::BudgetRule budget;
  budget.name = "daily";
  budget.limit = 100 * core::kPicodollarsPerUsd;
  budget.mode = core::BudgetMode::Hard;
  rules.budgets = {budget};
  const core::EnforcementPlan plan =
      core::plan(rules, core::RequestAttributes{}, core::kPicodollarsPerUsd, 0, now);
  const auto admission = enforcer_.admitAtOnce(plan, "r1", now + 10min);
  ASSERT_TRUE(admission.has_value());
  ASSERT_TRUE(admission->result.denial);
  EXPECT_EQ(admission->result.denial->reason, core::DenialReason::EmergencyStop);
  EXPECT_TRUE(enforcer_.emergencyStopActive());
  EXPECT_EQ(enforcer_.emergencyStop(), on);
  ASSERT_EQ(changes_.size(), 1u);
  EXPECT_EQ(changes_[0].second, on);
}

}  // namespace
}  // namespace spendgate::proxy
