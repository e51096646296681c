#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "proxy/metrics/metrics_shard.hpp"
#include "proxy/net.hpp"
#include "proxy/server/loop_failures.hpp"
#include "proxy/server/runtime.hpp"
#include "proxy/server/services.hpp"

namespace spendgate::proxy {

/** What POST /admin/reload (and SIGHUP) did: refused with `errors`, or applied. */
struct ReloadOutcome {
  std::vector<std::string> errors;    // the config was refused; the old one stays
  std::vector<std::string> warnings;  // applied, but not all of it (settings that need a restart)
};

/**
 * The admin listener (SPEC §5). Every route but /healthz needs `Authorization: Bearer <token>`
 * when a token is set (the token is required off loopback).
 */
class AdminServer {
public:
  /** What the admin API reads from the running proxy. */
  struct Hooks {
    std::function<RuntimePtr()> runtime;               // the rules in force
    std::function<std::size_t()> requests_in_flight;   // across workers
    std::function<void(MetricsShard&)> merge_metrics;  // adds every worker's shard
    // Starts a reload; the callback gets its outcome, on this server's loop, once it is done
    // (every worker has the new rules).
    std::function<void(std::function<void(const ReloadOutcome&)>)> reload;
  };

  AdminServer(net::io_context& context, Services services, std::string token, Hooks hooks);

  /** Binds the listener. @return the bound endpoint. */
  tcp::endpoint listen(const tcp::endpoint& endpoint);
  void start();
  void stop();

private:
  net::awaitable<void> acceptLoop();
  net::awaitable<void> serve(tcp::socket socket);
  using Request = boost::beast::http::request<boost::beast::http::string_body>;
  using Response = boost::beast::http::response<boost::beast::http::string_body>;
  net::awaitable<Response> route(const Request& request);
  net::awaitable<Response> emergencyStop(const Request& request);

  net::io_context& context_;
  tcp::acceptor acceptor_;
  Services services_;
  std::string token_;
  Hooks hooks_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::chrono::system_clock::time_point started_wall_ = std::chrono::system_clock::now();
  std::unordered_set<tcp::socket*> connections_;  // closed by stop()
  LoopFailures accept_failures_;                  // the accept loop goes on after a failed turn
};

}  // namespace spendgate::proxy
