#pragma once

#include <chrono>
#include <mutex>

#include "core/clock.hpp"

namespace spendgate::core::testing {

/** A core::Clock that only moves when the test says so; thread-safe. */
class ManualClock final : public Clock {
public:
  /** Starts at `start` (wall) and at an arbitrary steady origin. */
  explicit ManualClock(std::chrono::system_clock::time_point start = {}) : now_(start) {}

  std::chrono::system_clock::time_point now() const override {
    std::lock_guard lock(mutex_);
    return now_;
  }
  std::chrono::steady_clock::time_point steadyNow() const override {
    std::lock_guard lock(mutex_);
    return steady_;
  }

  /** Moves both clocks forward by `by`. */
  void advance(std::chrono::nanoseconds by) {
    std::lock_guard lock(mutex_);
    now_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(by);
    steady_ += by;
  }

  /** Sets the wall clock (steady time moves by the same amount, never backwards). */
  void set(std::chrono::system_clock::time_point to) {
    std::lock_guard lock(mutex_);
    if (to > now_) steady_ += to - now_;
    now_ = to;
  }

private:
  mutable std::mutex mutex_;
  std::chrono::system_clock::time_point now_;
  std::chrono::steady_clock::time_point steady_{};
};

/** @return the time point for a UTC civil date and time, e.g. utc(2024, 2, 29, 23, 59, 59). */
inline std::chrono::system_clock::time_point utc(
    int y, unsigned m, unsigned d, int hh = 0, int mm = 0, int ss = 0, int ms = 0) {
  using namespace std::chrono;
  return system_clock::time_point(sys_days(year{y} / month{m} / day{d})) + hours{hh} + minutes{mm} +
         seconds{ss} + milliseconds{ms};
}

}  // namespace spendgate::core::testing
