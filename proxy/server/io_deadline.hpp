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
 * early and fires at most one sweep interval late.
 */
class IoDeadline {
public:
  using Clock = std::chrono::steady_clock;

  void arm(Clock::time_point at) { at_ = at; }

  /** Disarms. @return `ec`, or beast::error::timeout once the deadline has fired. */
  beast::error_code finish(beast::error_code ec) {
    at_ = Clock::time_point::max();
    return expired_ ? beast::error::timeout : ec;
  }

  /** For the sweep. @return true once: the first time an armed deadline is found passed. */
  bool expire(Clock::time_point now) {
    if (expired_ || at_ == Clock::time_point::max() || now < at_) return false;
    expired_ = true;
    return true;
  }

  bool expired() const { return expired_; }

private:
  Clock::time_point at_ = Clock::time_point::max();
  bool expired_ = false;
};

}  // namespace spendgate::proxy
