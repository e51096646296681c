#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace spendgate::proxy {

/**
 * What a long-lived loop (an accept loop, the sweep, a poll) does with a turn that failed (an
 * accept error, an exception): it says so here and goes on. The first failure is logged at once;
 * those within kQuietPeriod of the last line logged are only counted, and the next line logged
 * after that says how many there were. A failure that repeats (out of file descriptors) writes a
 * line every kQuietPeriod, not one per try. One loop's, on its own thread.
 */
class LoopFailures {
public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kQuietPeriod{10};

  /** @param loop what the lines name the loop; @param log writes one line */
  LoopFailures(std::string loop, std::function<void(const std::string&)> log);

  /** A turn failed for `what`. Never throws. */
  void report(std::string_view what, Clock::time_point now = Clock::now()) noexcept;
  /** Inside a catch block: the exception being handled failed the turn. Never throws. */
  void reportCurrentException(Clock::time_point now = Clock::now()) noexcept;

  /** Failures reported so far, logged or not. */
  std::size_t count() const { return count_; }

private:
  std::string loop_;
  std::function<void(const std::string&)> log_;
  std::optional<Clock::time_point> last_logged_;
  std::size_t unlogged_ = 0;  // since the last line logged
  std::size_t count_ = 0;
};

}  // namespace spendgate::proxy
