#include "proxy/server/loop_failures.hpp"

#include <exception>
#include <utility>

namespace spendgate::proxy {

LoopFailures::LoopFailures(std::string loop, std::function<void(const std::string&)> log)
    : loop_(std::move(loop)), log_(std::move(log)) {}

void LoopFailures::report(std::string_view what, Clock::time_point now) noexcept {
  ++count_;
  if (last_logged_ && now - *last_logged_ < kQuietPeriod) {
    ++unlogged_;
    return;
  }
  try {
    std::string line = loop_ + ": " + std::string(what) + "; the loop goes on";
    if (unlogged_ > 0) {
      line += " (" + std::to_string(unlogged_) + " more failure(s) not logged since the last line)";
    }
    last_logged_ = now;
    unlogged_ = 0;
    log_(line);
  } catch (...) {
    // Logging failed too: nothing more to do about it, and the loop still goes on.
  }
}

void LoopFailures::reportCurrentException(Clock::time_point now) noexcept {
  try {
    throw;
  } catch (const std::exception& e) {
    try {
      report(std::string("exception: ") + e.what(), now);
    } catch (...) {
      report("exception (no memory to say which)", now);
    }
  } catch (...) {
    report("unknown exception", now);
  }
}

}  // namespace spendgate::proxy
