#pragma once

#include <memory>
#include <string>
#include <unordered_set>

#include "proxy/net.hpp"

namespace spendgate::proxy {

class Logger;

/**
 * The admin listener (SPEC §5): health and readiness now; the operations API grows here.
 * Every route but /healthz needs `Authorization: Bearer <token>` when a token is set.
 */
class AdminServer {
public:
  AdminServer(net::io_context& context, Logger& logger, std::string token);

  /** Binds the listener. @return the bound endpoint. */
  tcp::endpoint listen(const tcp::endpoint& endpoint);
  void start();
  void stop();

private:
  net::awaitable<void> acceptLoop();
  net::awaitable<void> serve(tcp::socket socket);

  net::io_context& context_;
  tcp::acceptor acceptor_;
  Logger& logger_;
  std::string token_;
  std::unordered_set<tcp::socket*> connections_;  // closed by stop()
};

}  // namespace spendgate::proxy
