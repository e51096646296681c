#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/config.hpp"
#include "core/store/counter_store.hpp"
#include "core/store/reconcile_script.hpp"
#include "proxy/net.hpp"

namespace spendgate::core {
class MemoryCounterStore;
}  // namespace spendgate::core

namespace spendgate::proxy {

class Logger;
class ReconcilingStore;
struct Runtime;

/**
 * The proxy's side of enforcement: talks to the counter store (memory or Redis) for every
 * request, keeps the emergency stop at hand, and decides what a store failure means
 * (store.redis.on_unavailable). Shared by all workers; thread-safe.
 *
 * Outages (docs/store.md):
 *  - fail_open: a request the shared store cannot admit (StoreError) is admitted and later
 *    settled by a local MemoryCounterStore, so the instance keeps its own limits meanwhile. Its
 *    real cost is remembered and, once the shared store is back (a connection comes up, or any
 *    later call succeeds), added to the shared counters exactly once (reconcile.lua, idempotent
 *    per reservation id).
 *  - any mode: a settle of a SHARED admission that fails is retried the same way (settle is
 *    idempotent), so a Redis blip between admit and settle does not lose the cost.
 * The replay queue holds at most Options::replay_limit entries; beyond that new entries are
 * dropped (logged, counted in reconcileStats().dropped).
 */
class Enforcer {
public:
  /** Whether a request was admitted by the shared store or, with fail_open, by the local one. */
  enum class Admitter { None, Shared, Local };

  struct Admission {
    core::AdmissionResult result;
    Admitter admitter = Admitter::None;
  };

  struct Options {
    /** Replays (reconciliations + settle retries) kept while the shared store is away. */
    std::size_t replay_limit = 1'000'000;
    /** Replays sent to the store at once. */
    std::size_t replay_batch = 64;
    /** After the store was unavailable for a replay, wait this long before trying on a call. */
    std::chrono::milliseconds replay_retry_delay{1000};
    /** A replay the store refuses (not unavailability: a script error) is dropped after this. */
    int replay_max_failures = 5;
  };

  struct ReconcileStats {
    std::size_t queued = 0;              // waiting, including those in flight
    std::uint64_t reconciled = 0;        // local costs added to the shared store
    std::uint64_t already = 0;           // replays the shared store had already counted
    std::uint64_t settled = 0;           // retried shared settles that went through
    std::uint64_t dropped = 0;           // lost: queue full, or refused replay_max_failures times
    std::uint64_t local_admissions = 0;  // requests admitted by the local store (fail_open)
  };

  /**
   * @param store the counter store; may be null until setStore() (calls then answer StoreError,
   *        so fail_closed refuses and fail_open admits locally)
   */
  Enforcer(core::CounterStorePtr store,
           config::RedisConfig::OnUnavailable on_unavailable,
           Logger& logger);
  Enforcer(core::CounterStorePtr store,
           config::RedisConfig::OnUnavailable on_unavailable,
           Logger& logger,
           Options options);
  ~Enforcer();
  Enforcer(const Enforcer&) = delete;
  Enforcer& operator=(const Enforcer&) = delete;

  /**
   * Sets (or replaces, or with nullptr removes) the counter store. Call before serving and after
   * the workers stopped, not while requests run: store() hands out a plain reference.
   * Release a Redis store (setStore(nullptr)) before its io_contexts are destroyed.
   */
  void setStore(core::CounterStorePtr store);

  /** @return the emergency stop as last seen (refresh() and every change here update it). */
  core::EmergencyStopState emergencyStop() const;
  /**
   * @return whether the stop as last seen is on, without the lock and the copy: a request asks
   * for emergencyStop() only when it is (an inactive stop refuses nothing).
   */
  bool emergencyStopActive() const {
    return emergency_stop_active_.load(std::memory_order_acquire);
  }

  /**
   * Start-up: the stop as kept before a restart (memory store, docs/enforcement.md "Across
   * restarts") becomes the one last seen, without telling the observer (it is no change).
   */
  void restoreEmergencyStop(const core::EmergencyStopState& state);

  /**
   * Memory store: where the admin API learns that the stop could not be kept across restarts
   * (the last write of its file failed; "" when it worked). Set before serving.
   */
  void setEmergencyStopWarning(std::function<std::string()> warning) {
    emergency_stop_warning_ = std::move(warning);
  }
  std::string emergencyStopWarning() const;

  /**
   * Admits a request in one atomic store step. A store failure answers StoreError with
   * fail_closed, and is admitted by a local in-memory store with fail_open.
   */
  Awaitable<Admission> admit(const core::EnforcementPlan& plan,
                             const std::string& id,
                             std::chrono::system_clock::time_point expires_at);

  /**
   * admit() when the store answers without waiting (the memory store, leased slices): the same
   * admission, with no coroutine frame. nullopt: nothing was done, co_await admit() instead.
   */
  std::optional<Admission> admitAtOnce(const core::EnforcementPlan& plan,
                                       const std::string& id,
                                       std::chrono::system_clock::time_point expires_at);
  /** admit() after admitAtOnce() answered nullopt: asks the store and waits for its answer. */
  Awaitable<Admission> admitWaiting(const core::EnforcementPlan& plan,
                                    const std::string& id,
                                    std::chrono::system_clock::time_point expires_at);

  /**
   * Replaces a reservation with the real cost, in the store that admitted it, then lets the
   * automatic emergency stop look at the period's spend. Does not wait. A Local admission's
   * cost is also queued for reconciliation with the shared store; a Shared settle that fails
   * is queued for a retry.
   */
  void settle(Admitter admitter,
              const core::Settlement& settlement,
              std::shared_ptr<const Runtime> runtime);

  /**
   * Lets the automatic emergency stop look at the global spend of its current period as the
   * store has it now, as after a settle (the start-up replay of the ledger calls it once, so
   * spend that passed `emergency_stop.auto.spend_usd` before a restart trips the stop again).
   */
  void checkAutoStop(const std::shared_ptr<const Runtime>& runtime,
                     std::chrono::system_clock::time_point now);

  /**
   * Turns the emergency stop on or off (admin API); answers the stored state. When the store
   * does not answer, the change applies on this instance at once, is answered as the new state,
   * and is written to the store by the next poll that reaches it (unless another instance
   * changed the stop later); emergencyStopWarning() says so meanwhile.
   */
  void changeEmergencyStop(
      std::function<core::EmergencyStopState(const core::EmergencyStopState&)> change,
      std::function<void(core::StoreResult<core::EmergencyStopState>)> done);

  /**
   * Reads the shared emergency stop from the store (other instances may have changed it). A stop
   * whose `until` has passed is written back as off (core::expireEmergencyStop), so the store,
   * the metric and the alerts see it end. Called on a timer (ProxyServer).
   */
  void refresh();

  /** The store; until one is set, a stand-in that answers StoreError to everything. */
  core::CounterStore& store() { return *currentStore(); }
  bool storeUp() const { return currentStore()->up(); }

  /**
   * Whether a request the store has nothing to count for (no budget, rate limit or auto stop
   * applies) must still be refused: with fail_closed while the store is known to be down, since
   * the shared emergency stop cannot be read either. No store call: the store's connection state.
   */
  bool refusesWithoutStore() const {
    return on_unavailable_ == config::RedisConfig::OnUnavailable::FailClosed && !storeUp();
  }

  /**
   * Sends queued reconciliations and settle retries to the store now (normally automatic: when
   * a store connection comes up, after successful calls, and on each refresh() the store
   * answers). Does not wait.
   */
  void reconcileNow();

  /**
   * What finishReplays() could not get confirmed: the ledger has it; the shared store does not,
   * unless a call written before it stopped answering is applied later.
   */
  struct Unsent {
    std::size_t entries = 0;
    core::Picodollars cost = 0;  // the sum of their actual costs
  };

  /**
   * Shutdown, after the requests drained: sends what waits for the shared store and waits for it
   * up to `limit` (retrying while the store does not answer). What is still unsent then is logged
   * as a warning with its cost. `done` runs once, on `loop`. Call it once, before the store stops.
   */
  void finishReplays(net::io_context& loop,
                     std::chrono::milliseconds limit,
                     std::function<void(Unsent)> done);

  ReconcileStats reconcileStats() const;

  /** Who hears about settled budgets and emergency-stop changes (alerts). Set before serving. */
  /**
   * The rest of admit() once the store has answered: `admission.result` holds the store's
   * answer (the admission is completed in place, so the result is not moved again).
   */
  void admitted(const core::EnforcementPlan& plan,
                const std::string& id,
                std::chrono::system_clock::time_point expires_at,
                Admission& admission);

  struct Observer {
    std::function<void(const std::vector<core::BudgetSnapshot>&,
                       std::chrono::system_clock::time_point)>
        settled;
    std::function<void(const core::EmergencyStopState& before,
                       const core::EmergencyStopState& after,
                       std::chrono::system_clock::time_point)>
        stop_changed;
  };
  void setObserver(Observer observer) { observer_ = std::move(observer); }

private:
  /** What a Local admission will need for its reconciliation once settled. */
  struct LocalAdmission {
    std::vector<core::BudgetCharge> budgets;
    std::optional<core::SpendCharge> spend;
    std::chrono::system_clock::time_point expires_at;
  };

  /** One thing to bring the shared store up to date with. */
  struct Replay {
    enum class Kind { Reconcile, Settle };
    Kind kind = Kind::Reconcile;
    core::Reconciliation reconciliation;  // Kind::Reconcile
    core::Settlement settlement;          // Kind::Settle
    std::shared_ptr<const Runtime> runtime;
    int failures = 0;
  };

  struct Round;

  std::shared_ptr<core::CounterStore> currentStore() const;
  void attachListener(const core::CounterStorePtr& store);
  void detachListener(const core::CounterStorePtr& store);
  void remember(const core::EmergencyStopState& state);
  void afterSettle(const std::shared_ptr<const Runtime>& runtime,
                   std::optional<core::Picodollars> period_spend,
                   std::chrono::system_clock::time_point now);

  /** What follows a settle of a Shared admission, once the store answered. */
  void sharedSettled(const core::CounterStorePtr& store,
                     const core::Settlement& settlement,
                     const std::shared_ptr<const Runtime>& runtime,
                     core::StoreResult<core::SettleResult> result);
  /** The same once the store settled it (the memory store answers in the call). */
  void settledAtOnce(const core::Settlement& settlement,
                     const std::shared_ptr<const Runtime>& runtime,
                     const core::SettleResult& result);

  void rememberLocalAdmission(const core::EnforcementPlan& plan,
                              const std::string& id,
                              std::chrono::system_clock::time_point expires_at);
  std::optional<LocalAdmission> takeLocalAdmission(const std::string& id);
  void enqueue(Replay replay);
  /** Starts a replay round unless one runs, the queue is empty or (unless forced) it is too soon.
   * True when it started one. */
  bool kickReplay(bool force);
  void sendReplay(const std::shared_ptr<Round>& round, std::size_t index);
  void finishReplay(const std::shared_ptr<Round>& round,
                    std::size_t index,
                    bool ok,
                    bool unavailable,
                    const std::string& error);
  void endRound(const std::shared_ptr<Round>& round);
  Unsent unsent() const;

  std::atomic<std::shared_ptr<core::CounterStore>> store_;
  std::shared_ptr<core::MemoryCounterStore> local_;  // fail_open: counts while the shared store
                                                     // is away
  config::RedisConfig::OnUnavailable on_unavailable_;
  Logger& logger_;
  Options options_;
  Observer observer_;
  mutable std::mutex mutex_;
  core::EmergencyStopState emergency_stop_;
  std::atomic<bool> emergency_stop_active_{false};  // emergency_stop_.active, set with it
  std::function<std::string()> emergency_stop_warning_;
  // A change the store did not take (it was down): in force here, written by refresh() (mutex_).
  std::optional<core::EmergencyStopState> unstored_stop_;
  void keepUnstored(const core::EmergencyStopState& state, const std::string& error);

  // Replay state (replay_mutex_). `backlog_` mirrors queue + in flight for a lock-free check.
  mutable std::mutex replay_mutex_;
  std::unordered_map<std::string, LocalAdmission> local_admissions_;
  std::deque<Replay> replays_;
  std::size_t in_flight_ = 0;
  core::Picodollars in_flight_cost_ = 0;  // of the round in flight, for unsent()
  bool replaying_ = false;
  std::chrono::steady_clock::time_point next_attempt_{};
  ReconcileStats stats_;
  /** fail_open admissions are logged once per this while they go on. */
  static constexpr std::chrono::milliseconds kFailOpenLogEvery{10000};
  std::atomic<std::int64_t> last_fail_open_log_ms_{0};  // steady clock; 0: never logged
  void noteFailOpen(const std::string& error);
  std::atomic<std::size_t> backlog_{0};
  // Settles sent to the shared store and not answered yet (not in the queue until they fail):
  // finishReplays() waits for them too, before the store is stopped under them.
  std::atomic<std::size_t> settles_in_flight_{0};
  std::atomic<core::Picodollars> settles_in_flight_cost_{0};
  /** Lets a store's availability listener outlive this Enforcer harmlessly. */
  std::shared_ptr<Enforcer*> self_;
};

}  // namespace spendgate::proxy
