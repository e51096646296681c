#include "proxy/server/proxy_server.hpp"

#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#include "core/ledger/reload_seed_planner.hpp"
#include "core/memory/buffer_allowance.hpp"
#include "core/store/memory_counter_store.hpp"
#include "proxy/admin/admin_server.hpp"
#include "proxy/alerts/alert_dispatcher.hpp"
#include "proxy/enforcement/enforcer.hpp"
#include "proxy/ledger/ledger_replayer.hpp"
#include "proxy/ledger/ledger_writer.hpp"
#include "proxy/logging/logger.hpp"
#include "proxy/server/event_loop.hpp"
#include "proxy/server/worker.hpp"

namespace spendgate::proxy {

namespace {

tcp::endpoint resolve(net::io_context& context,
                      const config::ListenAddress& address,
                      const char* what) {
  beast::error_code ec;
  auto ip = net::ip::make_address(address.host, ec);
  if (!ec) return {ip, address.port};
  tcp::resolver resolver(context);
  auto results = resolver.resolve(address.host, std::to_string(address.port), ec);
  if (ec || results.empty()) {
    throw std::runtime_error(std::string("cannot resolve ") + what + " address " + address.host +
                             ": " + ec.message());
  }
  return results.begin()->endpoint();
}

std::string describe(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  const std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  return host + ":" + std::to_string(endpoint.port());
}

/** Port 0 bound some free port: naming that port now asks for what is already in use. */
bool sameListen(const config::ListenAddress& started,
                const tcp::endpoint& bound,
                const config::ListenAddress& wanted) {
  if (wanted == started) return true;
  return started.port == 0 && wanted.host == started.host && wanted.port == bound.port();
}

}  // namespace

ProxyServer::ProxyServer(RuntimePtr runtime, Services services, std::string config_path)
    : runtime_(runtime),
      started_with_(std::move(runtime)),
      services_(services),
      logger_(services.logger),
      config_path_(std::move(config_path)),
      stop_poll_failures_(
          "emergency stop poll",
          [&logger = services.logger](const std::string& line) { logger.error(line); }),
      drain_poll_failures_(
          "shutdown drain poll",
          [&logger = services.logger](const std::string& line) { logger.error(line); }) {
  const int threads = std::max(1, runtime_->config.server.threads);
  for (int i = 0; i < threads; ++i) {
    workers_.push_back(std::make_unique<Worker>(i, runtime_, services_));
  }
}

ProxyServer::~ProxyServer() = default;

void ProxyServer::bind() {
  const auto& config = runtime_->config;
  auto& main_context = workers_.front()->context();
  try {
    tcp::endpoint endpoint = resolve(main_context, config.server.listen, "server.listen");
    const bool reuse_port = workers_.size() > 1;
    proxy_endpoint_ = workers_.front()->listen(endpoint, reuse_port);
    // The others join the first one's port, which matters when it was 0 (ephemeral).
    for (std::size_t i = 1; i < workers_.size(); ++i) workers_[i]->listen(proxy_endpoint_, true);
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error("cannot listen on " + config.server.listen.host + ":" +
                             std::to_string(config.server.listen.port) + ": " + e.code().message());
  }

  std::string token;
  if (!config.admin.token_env.empty()) {
    if (const char* value = std::getenv(config.admin.token_env.c_str())) token = value;
  }
  // Runtime::build already refuses this (so check does too); kept so no path ever opens an admin
  // port off loopback without a token.
  if (token.empty() && !config::isLoopbackHost(config.admin.listen.host)) {
    throw std::runtime_error("admin.listen " + config.admin.listen.host +
                             " is not a loopback address: set the admin token in $" +
                             config.admin.token_env + " or listen on 127.0.0.1");
  }
  AdminServer::Hooks hooks;
  hooks.runtime = [this] { return runtime_; };
  hooks.requests_in_flight = [this] {
    std::size_t total = 0;
    for (auto& worker : workers_) total += worker->activeRequests();
    return total;
  };
  hooks.reload = [this](ReloadDone done) { reload(std::move(done)); };
  hooks.merge_metrics = [this](MetricsShard& merged) {
    for (auto& worker : workers_) worker->metrics().mergeInto(merged);
  };
  admin_ = std::make_unique<AdminServer>(main_context, services_, token, std::move(hooks));
  try {
    admin_endpoint_ = admin_->listen(resolve(main_context, config.admin.listen, "admin.listen"));
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error("cannot listen on admin address " + config.admin.listen.host + ":" +
                             std::to_string(config.admin.listen.port) + ": " + e.code().message());
  }
}

void ProxyServer::run() {
  auto& main_context = workers_.front()->context();
  signals_ = std::make_unique<net::signal_set>(main_context, SIGTERM, SIGINT);
  signals_->async_wait([this](beast::error_code ec, int signal) {
    if (!ec) onStopSignal(signal);
  });
  reload_signal_ = std::make_unique<net::signal_set>(main_context, SIGHUP);
  waitForReloadSignal();
  stop_poll_timer_ = std::make_unique<net::steady_timer>(main_context);
  pollEmergencyStop();
  admin_->start();
  if (start_gate_.ready && !start_gate_.ready()) {
    for (auto& worker : workers_) start_guards_.push_back(net::make_work_guard(worker->context()));
    start_timer_ = std::make_unique<net::steady_timer>(main_context);
    acceptWhenReady(std::chrono::steady_clock::now() + start_gate_.max_wait);
  } else {
    startAccepting(true);
  }

  // A handler's exception is logged and the loop goes on (event_loop.hpp).
  const auto report = [this](const std::string& message) { logger_.error(message); };
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < workers_.size(); ++i) {
    threads.emplace_back(
        [worker = workers_[i].get(), &report] { runCatching(worker->context(), report); });
  }
  runCatching(main_context, report);
  for (auto& thread : threads) thread.join();
  logger_.info("stopped");
  logger_.flush();
}

std::vector<net::io_context*> ProxyServer::eventLoops() {
  std::vector<net::io_context*> loops;
  for (auto& worker : workers_) loops.push_back(&worker->context());
  return loops;
}

// Another instance may flip the shared emergency stop: look twice a second, so every instance
// obeys within one (the store's admit step checks it too, atomically). The same look notices a
// stop whose `until` has passed and stores it as off (Enforcer::refresh): one thread, this one.
void ProxyServer::pollEmergencyStop() {
  if (stopping_) return;
  // A look that throws is logged and the next one still comes: the poll must not end.
  try {
    services_.enforcer.refresh();
  } catch (...) {
    stop_poll_failures_.reportCurrentException();
  }
  stop_poll_timer_->expires_after(std::chrono::milliseconds(500));
  stop_poll_timer_->async_wait([this](beast::error_code ec) {
    if (!ec) pollEmergencyStop();
  });
}

void ProxyServer::waitForReloadSignal() {
  reload_signal_->async_wait([this](beast::error_code ec, int) {
    if (ec) return;
    // The next SIGHUP is waited for whatever this reload does. Its outcome is in the log
    // already (refused, or "configuration reloaded" once every worker has the new rules).
    try {
      logger_.info("SIGHUP: reloading the configuration");
      reload([](const ReloadOutcome&) {});
    } catch (const std::exception& e) {
      logger_.error(std::string("reload failed: ") + e.what());
    } catch (...) {
      logger_.error("reload failed: unknown exception");
    }
    waitForReloadSignal();
  });
}

void ProxyServer::handOverRules(const RuntimePtr& next,
                                const ReloadStep& step,
                                std::function<void()> then) {
  // The reload is answered (POST /admin/reload, SIGHUP's log line) once every worker has the new
  // rules, so no request whose head comes after the answer is admitted under the old ones
  // (audit 16 H2). Nothing waits for that here: the main loop (worker 0's, with the admin API,
  // the signals and its own connections) goes on, and the last worker to take them posts `then`
  // back to it (review 22 F4: it was blocked up to 1 s by any busy worker).
  struct Pending {
    std::atomic<std::size_t> left{1};  // this call's own share, given up once all are posted
    std::function<void()> then;
  };
  auto pending = std::make_shared<Pending>();
  // The worker on this thread (the main loop's) takes them last, in the same turn as the rest of
  // the reload (budget seeding above all): it admits nothing under the new rules before that
  // (review 23 F2: with threads: 1 a new hard budget admitted before it was seeded).
  Worker* local = nullptr;
  for (auto& worker : workers_) {
    if (worker->context().get_executor().running_in_this_thread()) local = worker.get();
  }
  pending->then = [local, next, step, then = std::move(then)] {
    if (local) step("handing the new rules to a worker", [&] { local->setRuntime(next); });
    then();
  };
  net::io_context& main = workers_.front()->context();
  const auto arrived = [pending, &main] {
    if (pending->left.fetch_sub(1, std::memory_order_acq_rel) == 1) net::post(main, pending->then);
  };
  for (auto& worker : workers_) {
    step("handing the new rules to a worker", [&] {
      if (worker.get() == local) return;  // in `then`, above
      // Counted before the post (a worker may take them at once), taken back if it threw.
      pending->left.fetch_add(1, std::memory_order_relaxed);
      try {
        net::post(worker->context(), [w = worker.get(), next, arrived] {
          w->setRuntime(next);
          arrived();
        });
      } catch (...) {
        pending->left.fetch_sub(1, std::memory_order_relaxed);
        throw;
      }
    });
  }
  arrived();
}

void ProxyServer::reload(ReloadDone done) {
  // One at a time, in the order asked: a reload's budget seeding reads the counters the one
  // before it has seeded (a second one started meanwhile would seed the same counters again).
  if (reloading_ && !stopping_) {
    queued_reloads_.push_back(std::move(done));
    return;
  }
  reloading_ = true;
  beginReload(std::move(done));
}

void ProxyServer::beginReload(ReloadDone done) {
  if (stopping_) {
    // A worker loop may have ended already: its hand-over would never finish (review 23 F1).
    std::shared_ptr<ReloadState> none;
    return failReload(none, done, "reload refused: the server is shutting down");
  }
  std::shared_ptr<ReloadState> state;
  // Whatever throws before the hand-over is under way ends this reload with that error (SIGHUP
  // logs it), and the next one queued still runs.
  try {
    state = std::make_shared<ReloadState>();
    state->done = std::move(done);
    startReload(state);
  } catch (const std::exception& e) {
    failReload(state, done, std::string("reload failed: ") + e.what());
  } catch (...) {
    failReload(state, done, "reload failed: unknown exception");
  }
}

void ProxyServer::failReload(const std::shared_ptr<ReloadState>& state,
                             ReloadDone& done,
                             const std::string& error) noexcept {
  try {
    logger_.error(error);
  } catch (...) {
  }
  if (!state) {
    // Not even its state could be made: it is answered with the error alone.
    try {
      ReloadOutcome outcome;
      outcome.errors.push_back(error);
      if (done) done(outcome);
    } catch (...) {
    }
    return reloadEnded();
  }
  try {
    state->outcome.errors.push_back(error);
  } catch (...) {
  }
  finishReload(*state);
}

void ProxyServer::startReload(const std::shared_ptr<ReloadState>& state) {
  ReloadOutcome& outcome = state->outcome;
  if (config_path_.empty()) {
    outcome.warnings.push_back("running on built-in defaults: there is no file to re-read");
    logger_.info("reload: " + outcome.warnings.back());
    return finishReload(*state);
  }
  RuntimePtr next = Runtime::load(config_path_, outcome.errors);
  if (!next) {
    for (const auto& error : outcome.errors) logger_.error("reload refused: " + error);
    return finishReload(*state);
  }
  outcome.warnings = next->warnings;
  // What is bound at start-up stays until a restart, so compare with that, not the last reload.
  // No values in the messages: a Redis URL may hold a password.
  const auto& before = started_with_->config;
  const auto& after = next->config;
  const std::pair<const char*, bool> restart_only[] = {
      {"server.listen", !sameListen(before.server.listen, proxy_endpoint_, after.server.listen)},
      {"admin.listen", !sameListen(before.admin.listen, admin_endpoint_, after.admin.listen)},
      // The admin listener keeps the token it read at start-up (no value named here either).
      {"admin.token_env", before.admin.token_env != after.admin.token_env},
      {"server.threads", before.server.threads != after.server.threads},
      {"store.kind", before.store.kind != after.store.kind},
      {"store.redis.url", after.store.kind == config::StoreConfig::Kind::Redis &&
                              before.store.redis.url != after.store.redis.url},
      {"ledger.path", before.ledger.path != after.ledger.path},
  };
  for (const auto& [key, changed] : restart_only) {
    if (changed) {
      outcome.warnings.push_back(std::string(key) +
                                 " differs from the one in use: it changes only on restart");
    }
  }
  for (const auto& warning : outcome.warnings) logger_.warn("reload: " + warning);
  // Memory store: the counters the new rules bring are seeded from the ledger below, with the
  // records of requests admitted before this moment; the counters held now were charged live.
  state->reloaded_at = std::chrono::system_clock::now();
  state->memory = dynamic_cast<core::MemoryCounterStore*>(&services_.enforcer.store());
  state->seed = state->memory != nullptr &&
                core::ReloadSeedPlanner::mayBringCounters(runtime_->rules, next->rules);
  if (state->seed) state->existing = state->memory->budgetCounterKeys(state->reloaded_at);
  state->next = next;
  // From here on the new rules are in force: a step that throws is logged and the others still
  // run, so the admin API and every worker do not end up on different rules.
  runtime_ = next;
  handing_over_ = state;
  handOverRules(next, reloadStep(*state), [this, state] {
    if (state->abandoned) return;  // answered at shutdown
    handing_over_.reset();
    applyReload(*state);
  });
}

void ProxyServer::applyReload(ReloadState& state) {
  // The rest runs as it did before the hand-over was asynchronous, and the reload ends here
  // whatever throws: the next one queued must not wait for ever.
  struct End {
    ProxyServer& server;
    ReloadState& state;
    ~End() { server.finishReload(state); }
  } end{*this, state};
  const auto step = reloadStep(state);
  const auto& after = state.next->config;
  step("reconfiguring the log", [&] { logger_.reconfigure(after.logging); });
  services_.buffers.setTotal(after.server.max_buffered_bytes);
  step("reconfiguring the alerts",
       [&] { services_.alerts.reconfigure(after.alerts, state.next->rules); });
  step("logging the reload", [&] { logger_.info("configuration reloaded from " + config_path_); });
  if (state.seed) {
    step("seeding the new budgets from the ledger", [&] {
      seedNewBudgets(*state.memory, state.next->rules, state.reloaded_at, state.existing);
    });
  }
}

ProxyServer::ReloadStep ProxyServer::reloadStep(ReloadState& state) {
  return [this, &outcome = state.outcome](const char* what, const std::function<void()>& run) {
    try {
      run();
    } catch (const std::exception& e) {
      outcome.warnings.push_back(std::string(what) + " failed: " + e.what());
      logger_.error("reload: " + outcome.warnings.back());
    } catch (...) {
      outcome.warnings.push_back(std::string(what) + " failed: unknown exception");
      logger_.error("reload: " + outcome.warnings.back());
    }
  };
}

void ProxyServer::finishReload(ReloadState& state) noexcept {
  // The caller's own failure (the admin connection's) is its own: the reloads go on.
  try {
    if (state.done) std::exchange(state.done, nullptr)(state.outcome);
  } catch (...) {
    try {
      logger_.error("reload: answering it failed");
    } catch (...) {
    }
  }
  reloadEnded();
}

void ProxyServer::abandonReloads() noexcept {
  const std::string error = "reload interrupted: the server is shutting down";
  if (auto state = std::exchange(handing_over_, nullptr)) {
    state->abandoned = true;
    try {
      state->outcome.errors.push_back(error + " (some workers may have taken the new rules)");
      if (state->done) std::exchange(state->done, nullptr)(state->outcome);
    } catch (...) {
    }
  }
  for (auto& done : std::exchange(queued_reloads_, {})) {
    try {
      ReloadOutcome outcome;
      outcome.errors.push_back("reload refused: the server is shutting down");
      if (done) done(outcome);
    } catch (...) {
    }
  }
}

void ProxyServer::reloadEnded() noexcept {
  if (queued_reloads_.empty()) {
    reloading_ = false;
    return;
  }
  // The next one stays ahead of any asked for meanwhile; it starts on a later turn, not inside
  // the one that just ended (nor in its destructors).
  try {
    net::post(workers_.front()->context(),
              [this, next = queued_reloads_.front()] { beginReload(next); });
    queued_reloads_.pop_front();
  } catch (...) {
    // Left queued: the next reload asked for starts them when it ends.
    reloading_ = false;
    try {
      logger_.error("reload: a queued reload could not be started");
    } catch (...) {
    }
  }
}

// Runs on the main loop, which waits for it (its connections and the admin API; the other
// workers go on): the whole file is read, at about 280,000 lines a second (docs/ledger.md).
void ProxyServer::seedNewBudgets(core::MemoryCounterStore& memory,
                                 const core::Rules& rules,
                                 std::chrono::system_clock::time_point reloaded_at,
                                 const std::unordered_set<std::string>& existing) {
  // Every line queued so far is in the file: requests settled before now are all read.
  services_.ledger.flush();
  LedgerReplayer replayer(memory, services_.spend, logger_);
  replayer.seed(services_.ledger.path(), rules, reloaded_at, existing,
                std::chrono::system_clock::now());
}

void ProxyServer::acceptWhenReady(std::chrono::steady_clock::time_point deadline) {
  if (stopping_) return;
  const bool ready = start_gate_.ready();
  if (!ready && std::chrono::steady_clock::now() < deadline) {
    start_timer_->expires_after(std::chrono::milliseconds(2));
    start_timer_->async_wait([this, deadline](beast::error_code ec) {
      if (!ec) acceptWhenReady(deadline);
    });
    return;
  }
  startAccepting(ready);
}

void ProxyServer::startAccepting(bool ready_in_time) {
  const auto opened = std::move(start_gate_.opened);
  start_gate_ = {};
  if (opened) opened(ready_in_time);
  // The other workers' loops may run already: each starts on its own thread.
  for (auto& worker : workers_) {
    net::post(worker->context(), [w = worker.get()] { w->startAccepting(); });
  }
  start_guards_.clear();
  logger_.info("listening on " + describe(proxy_endpoint_) + ", admin on " +
               describe(admin_endpoint_) + ", " + std::to_string(workers_.size()) + " thread(s)");
}

void ProxyServer::onStopSignal(int signal) {
  const auto grace = runtime_->config.server.shutdown_grace;
  logger_.info(std::string("received ") + (signal == SIGINT ? "SIGINT" : "SIGTERM") +
               ": no new connections; letting requests in flight finish (up to " +
               std::to_string(grace.count()) + " ms)");
  admin_->stop();
  stopping_ = true;
  // An admin reload waiting for workers that stop now would never be answered, and its
  // connection would keep the main loop from ending (review 23 F1).
  abandonReloads();
  beast::error_code ignored;
  reload_signal_->cancel(ignored);
  stop_poll_timer_->cancel();
  // Stopped before the workers accepted: they never will, and their loops may run out of work.
  if (start_timer_) start_timer_->cancel();
  start_guards_.clear();
  for (auto& worker : workers_) {
    net::post(worker->context(), [w = worker.get()] { w->beginShutdown(); });
  }
  drain_deadline_ = std::chrono::steady_clock::now() + grace;
  drain_timer_ = std::make_unique<net::steady_timer>(workers_.front()->context());
  pollDrain();
}

void ProxyServer::pollDrain() {
  std::size_t open = 0;
  for (auto& worker : workers_) open += worker->openSessions();
  if (open == 0) {
    // Nothing left: once the store's clients stop, every io_context runs out of work.
    if (on_drained_) std::exchange(on_drained_, nullptr)();
    return;
  }
  if (!force_closed_ && std::chrono::steady_clock::now() >= drain_deadline_) {
    // Whatever this throws, the poll goes on and tries again (closeAll twice closes nothing).
    try {
      logger_.warn("shutdown grace over: closing " + std::to_string(open) + " connection(s)");
      for (auto& worker : workers_) {
        net::post(worker->context(), [w = worker.get()] { w->closeAll(); });
      }
      force_closed_ = true;
    } catch (...) {
      drain_poll_failures_.reportCurrentException();
    }
  }
  drain_timer_->expires_after(std::chrono::milliseconds(20));
  drain_timer_->async_wait([this](beast::error_code ec) {
    if (!ec) pollDrain();
  });
}

}  // namespace spendgate::proxy
