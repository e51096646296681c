#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/store/counter_store.hpp"
#include "core/store/script_value.hpp"
#include "core/store/store_keys.hpp"
#include "proxy/net.hpp"
#include "proxy/store/lua_script.hpp"
#include "proxy/store/reconciling_store.hpp"
#include "proxy/store/redis_reply.hpp"

namespace spendgate::proxy {

class Logger;
class RedisClient;

/** @return `reply` as core sees it (Status becomes String; arrays recursively). */
core::ScriptValue toScriptValue(const RedisReply& reply);

/**
 * The shared CounterStore: core/store/lua/ scripts (embedded in the binary) on Redis, one
 * EVALSHA per admit and per settle, over one asynchronous RedisClient per event loop. Admits
 * (settles) that come while one is in flight on the same connection go together as one batch
 * EVALSHA (Options::max_batch), which Redis runs as the same number of separate atomic steps.
 *
 * Thread model: create() makes one client per io_context in `loops` (the proxy's workers) and
 * starts it on that loop. Every call uses the client of the loop the CALLING thread is running
 * (found with running_in_this_thread(), no registration, no lock) and its callback runs on that
 * same thread, later (never inside the call, except for a plan that already carries a denial).
 * A call from a thread that runs none of the loops (tests, start-up code) is posted to loop 0 and
 * completes on loop 0's thread. Thread-safe in that sense; each client is only touched by its
 * own loop.
 *
 * Failures: a transport error, a timeout (admit: `admit_timeout`, everything else: the client's
 * `command_timeout`), or no connection right now (fails at once, nothing is queued) answers
 * AdmissionResult::StoreError / StoreResult::failure with the reason. Never hangs.
 * An admit that timed out but whose reply then arrives and says Allowed is released at once
 * (settled with cost 0), so a reservation the caller never learned about does not hold budget.
 * An admit whose reply never arrives (the connection dropped after it was written, e.g. Redis
 * paused longer than command_timeout) is remembered and released with a tombstone once Redis
 * answers again (reconnect or the next admit reply): the reservation if Redis ran it, else a
 * settled record so that the admit, if Redis runs it later, reserves nothing.
 *
 * up(): every loop's client is connected (handshake done). One worker without its connection
 * fails that worker's requests, so /readyz reports the instance as not ready.
 *
 * Lifetime: the clients use the io_contexts; release the store (every shared_ptr, including the
 * Enforcer's: setStore(nullptr)) before destroying the io_contexts. stop() may be called first.
 */
class RedisCounterStore final : public core::CounterStore,
                                public ReconcilingStore,
                                public std::enable_shared_from_this<RedisCounterStore> {
public:
  struct Options {
    /** Key prefix; under Redis Cluster use a hash tag ("{spendgate}:"). */
    std::string prefix = "spendgate:";
    /** Use Redis TIME instead of each instance's clock (see docs/enforcement.md). */
    bool server_time = false;
    /** An admission waits at most this long for Redis, then answers StoreError. */
    std::chrono::milliseconds admit_timeout{250};
    /** Every other call (and, as a backstop, admit): the client drops and reconnects after it. */
    std::chrono::milliseconds command_timeout{1000};
    std::chrono::milliseconds connect_timeout{1000};
    std::chrono::milliseconds min_backoff{50};
    std::chrono::milliseconds max_backoff{2000};
    /**
     * Coalescing: while an admit (settle) call is in flight on a loop's connection, the next
     * admits (settles) of that loop wait and then go as ONE batch call of up to this many
     * (core::batchCall), which Redis runs one after another with the same results as separate
     * calls. 1 sends every call on its own.
     */
    std::size_t max_batch = 64;
  };

  /**
   * Creates one RedisClient per loop for `config.url` and starts each on its loop (posted, so
   * the loops may or may not run yet). Calls fail with StoreError until the clients connect.
   * @param loops at least one; the store keeps pointers to them
   */
  static std::shared_ptr<RedisCounterStore> create(const config::RedisConfig& config,
                                                   std::vector<net::io_context*> loops,
                                                   Logger& logger);
  static std::shared_ptr<RedisCounterStore> create(const config::RedisConfig& config,
                                                   std::vector<net::io_context*> loops,
                                                   Logger& logger,
                                                   Options options);

  ~RedisCounterStore() override;

  // core::CounterStore
  void admit(const core::EnforcementPlan& plan,
             const std::string& reservation_id,
             std::chrono::system_clock::time_point expires_at,
             AdmitCallback callback) override;
  void settle(const core::Settlement& settlement, SettleCallback callback) override;
  void budgets(std::chrono::system_clock::time_point now, BudgetsCallback callback) override;
  void spend(const std::string& spend_key, SpendCallback callback) override;
  void emergencyStop(EmergencyStopCallback callback) override;
  void setEmergencyStop(const core::EmergencyStopState& state,
                        EmergencyStopCallback callback) override;
  void replaceEmergencyStop(const core::EmergencyStopState& expected,
                            const core::EmergencyStopState& next,
                            EmergencyStopCallback callback) override;
  /** True when every loop's client is connected. */
  bool up() const override;

  // ReconcilingStore
  void reconcile(const core::Reconciliation& reconciliation, ReconcileCallback callback) override;
  void setAvailabilityListener(std::function<void()> listener) override;
  /** Transport failures (messages starting "redis "), as opposed to error replies. */
  bool unavailable(const std::string& error) const override;

  /**
   * Runs core/store/lua/lease.lua with `call` (LeasingCounterStore's flushes), unbatched, on the
   * calling thread's loop (or loop 0). The callback gets the reply or a transport error.
   */
  void lease(core::ScriptCall call, std::function<void(core::StoreResult<core::ScriptValue>)> done);

  /** Stops every client (posted to its loop): pending calls fail, no reconnects. */
  void stop();

  /**
   * Claims `name` once across every instance sharing this Redis (SET NX with a TTL): the first
   * caller gets true. A Redis error answers true: sending twice beats not sending.
   */
  void claimOnce(const std::string& name,
                 std::chrono::seconds ttl,
                 std::function<void(bool claimed)> done);

  const core::StoreKeys& keys() const { return keys_; }
  /** The URL without credentials (for logs). */
  const std::string& redactedUrl() const { return redacted_url_; }
  std::size_t loopCount() const { return slots_.size(); }
  /** Clients connected right now (diagnostics, tests). */
  std::size_t connectedCount() const { return connected_.load(std::memory_order_acquire); }
  /**
   * True once every loop's client has finished its first connection attempt, connected or not
   * (then retrying): `serve` opens its listeners after that (docs/redis.md "Start-up").
   */
  bool firstAttemptsDone() const {
    return attempted_.load(std::memory_order_acquire) == slots_.size();
  }
  /** Bounds one connection attempt (resolve, connect, handshake). */
  std::chrono::milliseconds connectTimeout() const { return options_.connect_timeout; }

private:
  struct Slot;

  RedisCounterStore(const config::RedisConfig& config,
                    std::vector<net::io_context*> loops,
                    Logger& logger,
                    Options options);

  void startClients();
  void onConnectionChange(Slot& slot, bool up);
  /** Runs `job(slot)` on the calling thread's slot, or posts it to slot 0. */
  void onClient(std::function<void(Slot&)> job);
  struct Lane;
  using Reply = std::function<void(boost::system::error_code, RedisReply)>;

  void evalOn(Slot& slot, const LuaScript& script, core::ScriptCall call, Reply done);
  /** evalOn through `lane`: sent at once when the lane is idle, else queued for its next batch. */
  void evalCoalesced(Slot& slot, Lane& lane, core::ScriptCall call, Reply done);
  /** Sends up to max_batch queued calls of `lane` as one call (the lane is then busy). */
  void sendLane(Slot& slot, Lane& lane);
  void releaseLateAdmission(Slot& slot, const std::string& reservation_id);
  /** Notes an admit that got no reply (Redis may run it later); bounded. */
  void rememberUnanswered(Slot& slot, const std::string& reservation_id);
  /** Sends the noted ids as tombstones (SettleScript::tombstone) if connected; failures stay. */
  void releaseUnanswered(Slot& slot);
  /** Sends `command`, whose reply is the stop's hash (HGETALL), and answers it parsed. */
  void emergencyStopCommand(std::vector<std::string> command, EmergencyStopCallback callback);

  Options options_;
  std::string url_;
  std::string redacted_url_;
  Logger& logger_;
  core::StoreKeys keys_;
  LuaScript admit_script_;
  LuaScript settle_script_;
  LuaScript budgets_script_;
  LuaScript reconcile_script_;
  LuaScript lease_script_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::atomic<std::size_t> connected_{0};
  std::atomic<std::size_t> attempted_{0};  // clients whose first attempt ended
  std::atomic<bool> never_up_logged_{false};
  std::mutex listener_mutex_;
  std::function<void()> listener_;
};

}  // namespace spendgate::proxy
