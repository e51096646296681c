#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <utility>

#include "proxy/net.hpp"
#include "proxy/server/loop_failures.hpp"

namespace spendgate::proxy {

/** How long an accept loop pauses after a failed turn before it accepts again. */
inline constexpr std::chrono::milliseconds kAcceptBackOff{50};

/**
 * Accepts connections on `acceptor` until it is closed (or its accept cancelled), handing each
 * socket, on `executor`, to `serve`. Neither an accept error nor an exception out of a turn (out
 * of `serve`, or memory running out) ends it, which would leave the listener open and never
 * accepting again (under SO_REUSEPORT, one worker's share of new connections): each is reported
 * to `failures` and the loop pauses `back_off` before it accepts again, as nginx does when out of
 * file descriptors (EMFILE), instead of spinning on the same error.
 */
template <class LoopExecutor, class Acceptor, class Serve>
net::awaitable<void, LoopExecutor> acceptConnections(
    Acceptor& acceptor,
    LoopExecutor executor,
    Serve serve,
    LoopFailures& failures,
    std::chrono::milliseconds back_off = kAcceptBackOff) {
  using Timer =
      net::basic_waitable_timer<std::chrono::steady_clock,
                                net::wait_traits<std::chrono::steady_clock>, LoopExecutor>;
  const auto token = net::as_tuple(net::use_awaitable_t<LoopExecutor>{});
  bool pause = false;
  while (acceptor.is_open()) {
    try {
      if (std::exchange(pause, false)) {
        Timer timer(executor, back_off);
        co_await timer.async_wait(token);
        continue;
      }
      auto [ec, socket] = co_await acceptor.async_accept(executor, token);
      if (ec) {
        if (ec == net::error::operation_aborted || !acceptor.is_open()) co_return;
        failures.report("accept failed: " + ec.message());
        pause = true;
        continue;
      }
      serve(std::move(socket));
    } catch (...) {
      failures.reportCurrentException();
      pause = true;
    }
  }
}

}  // namespace spendgate::proxy
