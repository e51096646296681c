#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <unordered_set>

#include "core/enforcement/counter_key_memo.hpp"
#include "core/enforcement/enforcement_plan.hpp"
#include "proxy/metrics/metrics_shard.hpp"
#include "proxy/net.hpp"
#include "proxy/server/loop_failures.hpp"
#include "proxy/server/runtime.hpp"
#include "proxy/server/services.hpp"
#include "proxy/upstream/upstream_pool.hpp"

namespace spendgate::proxy {

class ClientSession;

/**
 * One event-loop thread: its own io_context, listening socket (SO_REUSEPORT spreads
 * connections across workers), upstream pool and sessions. Nothing here is shared with other
 * workers, so the request path takes no locks.
 */
class Worker {
public:
  /**
   * How often every session is looked at (ClientSession::sweep): socket operations past their
   * deadline are ended (the granularity of every I/O timeout) and in-flight requests get their
   * client disconnect watch.
   */
  static constexpr std::chrono::milliseconds kSweepInterval{100};

  Worker(std::size_t index, RuntimePtr runtime, Services services);

  net::io_context& context() { return context_; }
  std::size_t index() const { return index_; }

  /** Opens the listening socket. @return the bound endpoint (port 0 becomes a real port). */
  tcp::endpoint listen(const tcp::endpoint& endpoint, bool reuse_port);

  /** Starts the accept loop and the sweep; call before running the context. */
  void startAccepting();

  /** The rules for new requests. Only call on this worker's thread. */
  const RuntimePtr& runtime() const { return runtime_; }
  void setRuntime(RuntimePtr runtime) { runtime_ = std::move(runtime); }

  UpstreamPool& pool() { return pool_; }
  MetricsShard& metrics() { return metrics_; }
  Logger& logger() { return services_.logger; }
  LedgerWriter& ledger() { return services_.ledger; }
  Enforcer& enforcer() { return services_.enforcer; }
  core::SpendRecorder& spend() { return services_.spend; }
  core::BufferAllowance& buffers() { return services_.buffers; }
  core::ServedModelMemory& servedModels() { return services_.served_models; }
  /** The counter keys this thread's last requests were planned with. This thread only. */
  core::CounterKeyMemo& counterKeys() { return counter_keys_; }
  /**
   * The plan this thread's last request was admitted with, kept for its capacity (planInto):
   * filled and used within one call, never across a suspension. This thread only.
   */
  core::EnforcementPlan& plan() { return plan_; }

  void add(ClientSession* session);
  void remove(ClientSession* session);

  /** Stops accepting, closes idle connections and tells busy ones to finish. This thread only. */
  void beginShutdown();
  /** Closes every connection, busy or not (grace period over). This thread only. */
  void closeAll();
  bool draining() const { return draining_; }

  /** Requests being served; read from any thread. */
  std::size_t activeRequests() const { return active_requests_.load(std::memory_order_relaxed); }
  void requestStarted() { active_requests_.fetch_add(1, std::memory_order_relaxed); }
  void requestFinished() { active_requests_.fetch_sub(1, std::memory_order_relaxed); }
  std::size_t openSessions() const { return open_sessions_.load(std::memory_order_relaxed); }

private:
  Awaitable<void> sweepLoop();

  std::size_t index_;
  // One thread runs this context and every socket on it is only touched from that thread
  // (other threads post to it: reload, shutdown, store callbacks), so the reactor's per-socket
  // locks are off; the scheduler's stay (posts from other threads) and so do its registration
  // locks (timers, sockets opened on the main thread before the loops run).
  net::io_context context_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  tcp::acceptor acceptor_;
  net::steady_timer sweep_timer_;
  RuntimePtr runtime_;
  Services services_;
  UpstreamPool pool_;
  MetricsShard metrics_;
  core::CounterKeyMemo counter_keys_;
  core::EnforcementPlan plan_;
  std::unordered_set<ClientSession*> sessions_;
  // The accept loop and the sweep go on after a failed turn, said in the log (rate-limited).
  LoopFailures accept_failures_;
  LoopFailures sweep_failures_;
  bool draining_ = false;
  std::atomic<std::size_t> active_requests_{0};
  std::atomic<std::size_t> open_sessions_{0};
};

}  // namespace spendgate::proxy
