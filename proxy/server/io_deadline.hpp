#pragma once

#include <boost/beast/core/error.hpp>
#include <chrono>

#include "proxy/net.hpp"

namespace spendgate::proxy {

/**
 * The time by which a socket's pending operation must complete, enforced by the worker's sweep
 * (Worker::kSweepInterval) instead of by a timer per operation (beast::tcp_stream arms one
 * before every read and write). arm() before an asynchronous operation; the sweep calls
 * expire(now) and closes the socket when it returns true; finish(ec) after the operation turns
 * the error of an operation the sweep ended into beast::error::timeout. A deadline never fires
 * early and fires at most one sweep interval late. An OnExpiry::Cancel deadline only cancels
 * the operation (an idle body read answered with a 408 on the same socket).
 */
class IoDeadline {
public:
  using Clock = std::chrono::steady_clock;

  /** What the sweep does to the socket once the deadline has passed. */
  enum class OnExpiry {
    Close,   // the connection is done with
    Cancel,  // only the operation ends: the socket stays usable, e.g. to answer a 408
  };

  void arm(Clock::time_point at, OnExpiry on_expiry = OnExpiry::Close) {
    at_ = at;
    on_expiry_ = on_expiry;
  }

  /**
   * Disarms. @return `ec`, or beast::error::timeout once the deadline has fired. A closing
   * deadline stays fired (every later operation on the closed socket times out); a cancelling
   * one is over once finished, so the socket can be armed and used again.
   */
  beast::error_code finish(beast::error_code ec) {
    at_ = Clock::time_point::max();
    if (!expired_) return ec;
    if (on_expiry_ == OnExpiry::Cancel) expired_ = false;
    return beast::error::timeout;
  }

  /** For the sweep. @return true once: the first time an armed deadline is found passed. */
  bool expire(Clock::time_point now) {
    if (expired_ || at_ == Clock::time_point::max() || now < at_) return false;
    expired_ = true;
    return true;
  }

  bool expired() const { return expired_; }
  /** For the sweep, once expire() returned true: cancel the operation rather than close. */
  bool cancels() const { return on_expiry_ == OnExpiry::Cancel; }

private:
  Clock::time_point at_ = Clock::time_point::max();
  OnExpiry on_expiry_ = OnExpiry::Close;
  bool expired_ = false;
};

}  // namespace spendgate::proxy
