#include "proxy/enforcement/enforcer.hpp"

#include "core/enforcement/emergency_stop.hpp"
#include "core/store/memory_counter_store.hpp"
#include "proxy/await_callback.hpp"
#include "proxy/logging/logger.hpp"
#include "proxy/server/runtime.hpp"

namespace spendgate::proxy {

namespace {

net::awaitable<core::AdmissionResult> admitOn(core::CounterStore& store,
                                              const core::EnforcementPlan& plan,
                                              const std::string& id,
                                              std::chrono::system_clock::time_point expires_at) {
  co_return co_await awaitCallback<core::AdmissionResult>(
      [&](std::function<void(core::AdmissionResult)> done) {
        store.admit(plan, id, expires_at, std::move(done));
      });
}

}  // namespace

Enforcer::Enforcer(core::CounterStorePtr store,
                   config::RedisConfig::OnUnavailable on_unavailable,
                   Logger& logger)
    : store_(std::move(store)),
      local_(std::make_shared<core::MemoryCounterStore>()),
      on_unavailable_(on_unavailable),
      logger_(logger) {}

core::EmergencyStopState Enforcer::emergencyStop() const {
  std::lock_guard lock(mutex_);
  return emergency_stop_;
}

void Enforcer::remember(const core::EmergencyStopState& state) {
  std::lock_guard lock(mutex_);
  emergency_stop_ = state;
}

net::awaitable<Enforcer::Admission> Enforcer::admit(
    const core::EnforcementPlan& plan,
    const std::string& id,
    std::chrono::system_clock::time_point expires_at) {
  Admission admission;
  admission.result = co_await admitOn(*store_, plan, id, expires_at);
  admission.admitter = Admitter::Shared;
  if (admission.result.status == core::AdmissionResult::Status::StoreError &&
      on_unavailable_ == config::RedisConfig::OnUnavailable::FailOpen) {
    // fail_open: keep serving, with this instance's own counters as the limit meanwhile.
    admission.result = co_await admitOn(*local_, plan, id, expires_at);
    admission.admitter = Admitter::Local;
  }
  if (!admission.result.allowed()) admission.admitter = Admitter::None;
  co_return admission;
}

void Enforcer::settle(Admitter admitter,
                      const core::Settlement& settlement,
                      std::shared_ptr<const Runtime> runtime) {
  if (admitter == Admitter::None) return;
  auto& store = admitter == Admitter::Shared ? *store_ : *local_;
  store.settle(
      settlement, [this, runtime = std::move(runtime), now = settlement.now,
                   id = settlement.reservation_id](core::StoreResult<core::SettleResult> result) {
        if (!result.ok()) {
          logger_.warn("settling " + id + " failed: " + result.error);
          return;
        }
        const auto& rule = runtime->rules.emergency_stop;
        if (!rule.auto_stop || !result.value->period_spend) return;
        const auto current = emergencyStop();
        const auto next =
            core::evaluateEmergencyStop(current, rule, *result.value->period_spend, now);
        if (next == current) return;
        if (next.active) logger_.warn("emergency stop tripped automatically: " + next.reason);
        remember(next);
        store_->setEmergencyStop(next, [this](core::StoreResult<core::EmergencyStopState> stored) {
          if (!stored.ok()) logger_.error("cannot store the emergency stop: " + stored.error);
        });
      });
}

void Enforcer::changeEmergencyStop(
    std::function<core::EmergencyStopState(const core::EmergencyStopState&)> change,
    std::function<void(core::StoreResult<core::EmergencyStopState>)> done) {
  // Start from the store's state, not the cache: another instance may have changed it.
  store_->emergencyStop([this, change = std::move(change), done = std::move(done)](
                            core::StoreResult<core::EmergencyStopState> current) mutable {
    if (!current.ok()) {
      done(std::move(current));
      return;
    }
    const auto next = change(*current.value);
    store_->setEmergencyStop(
        next, [this, done = std::move(done)](core::StoreResult<core::EmergencyStopState> stored) {
          if (stored.ok()) remember(*stored.value);
          done(std::move(stored));
        });
  });
}

void Enforcer::refresh() {
  store_->emergencyStop([this](core::StoreResult<core::EmergencyStopState> state) {
    if (state.ok()) remember(*state.value);
  });
}

}  // namespace spendgate::proxy
