#include "proxy/server/worker.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <string>

#include "proxy/logging/logger.hpp"
#include "proxy/server/accept_loop.hpp"
#include "proxy/server/client_session.hpp"

namespace spendgate::proxy {

namespace {
using reuse_port = net::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
}

Worker::Worker(std::size_t index, RuntimePtr runtime, Services services)
    : index_(index),
      acceptor_(context_),
      sweep_timer_(context_),
      runtime_(std::move(runtime)),
      services_(services),
      accept_failures_("worker " + std::to_string(index) + " accept loop",
                       [&logger = services.logger](const std::string& line) { logger.warn(line); }),
      sweep_failures_(
          "worker " + std::to_string(index) + " sweep",
          [&logger = services.logger](const std::string& line) { logger.error(line); }) {}

tcp::endpoint Worker::listen(const tcp::endpoint& endpoint, bool reuse) {
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(net::socket_base::reuse_address(true));
  if (reuse) acceptor_.set_option(reuse_port(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(net::socket_base::max_listen_connections);
  return acceptor_.local_endpoint();
}

void Worker::startAccepting() {
  net::co_spawn(
      context_,
      acceptConnections(
          acceptor_, context_.get_executor(),
          [this](Socket socket) {
            beast::error_code ignored;
            socket.set_option(tcp::no_delay(true), ignored);
            ClientSession::start(std::make_shared<ClientSession>(std::move(socket), *this));
          },
          accept_failures_),
      net::detached);
  net::co_spawn(context_, sweepLoop(), net::detached);
}

Awaitable<void> Worker::sweepLoop() {
  // Runs while draining too (the timeouts of requests still finishing depend on it), until the
  // last session has gone: then the context can run out of work. A session whose sweep throws is
  // skipped this time; the others, and the next sweeps, go on (every I/O timeout depends on it).
  while (!(draining_ && sessions_.empty())) {
    sweep_timer_.expires_after(kSweepInterval);
    auto [ec] = co_await sweep_timer_.async_wait(use_nothrow);
    if (ec) co_return;
    const auto now = std::chrono::steady_clock::now();
    for (auto* session : sessions_) {
      try {
        session->sweep(now);
      } catch (...) {
        sweep_failures_.reportCurrentException();
      }
    }
  }
}

void Worker::add(ClientSession* session) {
  sessions_.insert(session);
  open_sessions_.fetch_add(1, std::memory_order_relaxed);
}

void Worker::remove(ClientSession* session) {
  sessions_.erase(session);
  open_sessions_.fetch_sub(1, std::memory_order_relaxed);
}

void Worker::beginShutdown() {
  draining_ = true;
  beast::error_code ignored;
  acceptor_.close(ignored);
  // Copy: closing a session can remove it from the set.
  std::vector<ClientSession*> sessions(sessions_.begin(), sessions_.end());
  for (auto* session : sessions) session->drain();
  pool_.clear();
}

void Worker::closeAll() {
  std::vector<ClientSession*> sessions(sessions_.begin(), sessions_.end());
  for (auto* session : sessions) session->close();
  pool_.clear();
}

}  // namespace spendgate::proxy
