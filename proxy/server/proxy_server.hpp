#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "proxy/admin/admin_server.hpp"
#include "proxy/net.hpp"
#include "proxy/server/loop_failures.hpp"
#include "proxy/server/runtime.hpp"
#include "proxy/server/services.hpp"

namespace spendgate::core {
class MemoryCounterStore;
}

namespace spendgate::proxy {

class AdminServer;
class Logger;
class Worker;

/**
 * The running proxy: one Worker per event-loop thread plus the admin listener, and the
 * staged shutdown on SIGTERM/SIGINT (stop accepting, let requests in flight finish for
 * server.shutdown_grace, then close what is left).
 */
class ProxyServer {
public:
  /** @param config_path the file to re-read on reload; "" when running on built-in defaults */
  ProxyServer(RuntimePtr runtime, Services services, std::string config_path);
  ~ProxyServer();

  /** Opens the proxy and admin listeners. Throws std::runtime_error with a readable message. */
  void bind();

  tcp::endpoint proxyEndpoint() const { return proxy_endpoint_; }
  tcp::endpoint adminEndpoint() const { return admin_endpoint_; }

  /** Serves until a stop signal and the drain that follows are over. */
  void run();

  /** Receives a reload's outcome, on the main event loop. */
  using ReloadDone = std::function<void(const ReloadOutcome&)>;

  /**
   * Re-reads the config file and swaps in the new rules for requests that start from now on;
   * requests in flight finish under the rules they started with, counters are kept. With the
   * memory store, the budget counters the new rules bring are seeded from the ledger (the
   * records of requests admitted before the reload), as a restart would (docs/ledger.md).
   * Call on the main event loop; it does not wait there. `done` gets the errors that made it
   * refuse (old config stays), or the warnings of an applied one (settings that keep their
   * start-up value until a restart), once every worker has the new rules: on a later turn of
   * the main loop, or at once when refused. Reloads run one at a time, in the order asked.
   */
  void reload(ReloadDone done);

  /**
   * Called on the main loop once shutdown has drained every connection: whatever keeps the
   * event loops busy on its own (the Redis clients) must stop then, or run() never returns.
   */
  void onDrained(std::function<void()> hook) { on_drained_ = std::move(hook); }

  /** Every worker's event loop (for per-thread clients such as Redis). */
  std::vector<net::io_context*> eventLoops();

  /**
   * What run() waits for before the workers accept connections (the listeners are bound, so
   * clients queue meanwhile): `ready` is polled on the main loop until it answers true or
   * `max_wait` has passed; then `opened(ready_in_time)` runs and the workers accept.
   */
  struct StartGate {
    std::function<bool()> ready;
    std::chrono::milliseconds max_wait{0};
    std::function<void(bool ready_in_time)> opened;
  };
  /** Call before run(). `serve` waits for the counter store's first connection attempt. */
  void setStartGate(StartGate gate) { start_gate_ = std::move(gate); }

private:
  void onStopSignal(int signal);
  /** One reload under way: what its steps share until it is answered. */
  struct ReloadState {
    ReloadOutcome outcome;
    ReloadDone done;
    RuntimePtr next;
    core::MemoryCounterStore* memory = nullptr;  // the memory store, else null
    bool seed = false;                           // the new rules may bring budget counters
    std::unordered_set<std::string> existing;    // the budget counters held at reloaded_at
    std::chrono::system_clock::time_point reloaded_at;
    bool abandoned = false;  // answered at shutdown: its hand-over's end does nothing more
  };
  /** Runs one part of an applied reload; what throws is logged and named in its warnings. */
  using ReloadStep = std::function<void(const char* what, const std::function<void()>& run)>;

  /** Runs one reload (reloading_ is set); startReload() does its part before the hand-over. */
  void beginReload(ReloadDone done);
  void startReload(const std::shared_ptr<ReloadState>& state);
  /** Answers a reload that threw before its hand-over with `error`. */
  void failReload(const std::shared_ptr<ReloadState>& state,
                  ReloadDone& done,
                  const std::string& error) noexcept;
  /**
   * Gives every worker `next` (worker 0, this thread's, at once); `then` is posted to the main
   * loop once the last one has it. Nothing waits meanwhile; see reload().
   */
  void handOverRules(const RuntimePtr& next, const ReloadStep& step, std::function<void()> then);
  /** The rest of an applied reload, once every worker has its rules; then answers it. */
  void applyReload(ReloadState& state);
  ReloadStep reloadStep(ReloadState& state);
  /** Answers the reload (`done`) and starts the next one queued. */
  void finishReload(ReloadState& state) noexcept;
  void reloadEnded() noexcept;
  /** At shutdown: answers the reload under way and those queued (a worker loop may be gone). */
  void abandonReloads() noexcept;
  /** Polls the start gate until it opens or its wait ran out, then startAccepting(). */
  void acceptWhenReady(std::chrono::steady_clock::time_point deadline);
  void startAccepting(bool ready_in_time);
  void waitForReloadSignal();
  void pollEmergencyStop();
  void pollDrain();
  /** Memory store: the budget counters a reload brings get their period's spend from the ledger. */
  void seedNewBudgets(core::MemoryCounterStore& memory,
                      const core::Rules& rules,
                      std::chrono::system_clock::time_point reloaded_at,
                      const std::unordered_set<std::string>& existing);

  RuntimePtr runtime_;
  RuntimePtr started_with_;  // listen, threads, store, ledger: what is bound until a restart
  Services services_;
  Logger& logger_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<AdminServer> admin_;
  std::unique_ptr<net::signal_set> signals_;
  std::unique_ptr<net::signal_set> reload_signal_;
  std::string config_path_;
  std::unique_ptr<net::steady_timer> drain_timer_;
  std::unique_ptr<net::steady_timer> stop_poll_timer_;
  bool stopping_ = false;
  StartGate start_gate_;
  std::unique_ptr<net::steady_timer> start_timer_;
  // Keep the workers' loops running while they do not accept yet (nothing else may hold them).
  std::vector<net::executor_work_guard<net::io_context::executor_type>> start_guards_;
  std::function<void()> on_drained_;
  bool reloading_ = false;                     // a reload is under way: the next ones wait
  std::shared_ptr<ReloadState> handing_over_;  // the reload whose workers take its rules now
  std::deque<ReloadDone> queued_reloads_;      // ... here, in order
  std::chrono::steady_clock::time_point drain_deadline_;
  bool force_closed_ = false;
  tcp::endpoint proxy_endpoint_;
  tcp::endpoint admin_endpoint_;
  // The emergency stop's and the drain's polls go on after a turn that threw, said in the log.
  LoopFailures stop_poll_failures_;
  LoopFailures drain_poll_failures_;
};

}  // namespace spendgate::proxy
