#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "config/config.hpp"
#include "core/store/counter_store.hpp"
#include "proxy/net.hpp"

namespace spendgate::proxy {

class Logger;
struct Runtime;

/**
 * The proxy's side of enforcement: talks to the counter store (memory or Redis) for every
 * request, keeps the emergency stop at hand, and decides what a store failure means
 * (store.redis.on_unavailable). Shared by all workers; thread-safe.
 */
class Enforcer {
public:
  /** Whether a request was admitted by the shared store or, with fail_open, by the local one. */
  enum class Admitter { None, Shared, Local };

  struct Admission {
    core::AdmissionResult result;
    Admitter admitter = Admitter::None;
  };

  Enforcer(core::CounterStorePtr store,
           config::RedisConfig::OnUnavailable on_unavailable,
           Logger& logger);

  /** @return the emergency stop as last seen (refresh() and every change here update it). */
  core::EmergencyStopState emergencyStop() const;

  /**
   * Admits a request in one atomic store step. A store failure answers StoreError with
   * fail_closed, and is admitted by a local in-memory store with fail_open.
   */
  net::awaitable<Admission> admit(const core::EnforcementPlan& plan,
                                  const std::string& id,
                                  std::chrono::system_clock::time_point expires_at);

  /**
   * Replaces a reservation with the real cost, in the store that admitted it, then lets the
   * automatic emergency stop look at the period's spend. Does not wait.
   */
  void settle(Admitter admitter,
              const core::Settlement& settlement,
              std::shared_ptr<const Runtime> runtime);

  /** Turns the emergency stop on or off (admin API); answers the stored state. */
  void changeEmergencyStop(
      std::function<core::EmergencyStopState(const core::EmergencyStopState&)> change,
      std::function<void(core::StoreResult<core::EmergencyStopState>)> done);

  /** Reads the shared emergency stop from the store (other instances may have changed it). */
  void refresh();

  core::CounterStore& store() { return *store_; }
  bool storeUp() const { return store_->up(); }

private:
  void remember(const core::EmergencyStopState& state);

  core::CounterStorePtr store_;
  core::CounterStorePtr local_;  // fail_open: counts while the shared store is away
  config::RedisConfig::OnUnavailable on_unavailable_;
  Logger& logger_;
  mutable std::mutex mutex_;
  core::EmergencyStopState emergency_stop_;
};

}  // namespace spendgate::proxy
