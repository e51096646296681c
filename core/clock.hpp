#pragma once

#include <chrono>

namespace spendgate::core {

/**
 * Where core/ reads the time. Policies take a Clock& so tests can drive time by hand.
 */
class Clock {
public:
  virtual ~Clock() = default;

  /** @return wall-clock time (UTC), for calendar periods and timestamps. */
  virtual std::chrono::system_clock::time_point now() const = 0;

  /** @return monotonic time, for durations and rate windows. */
  virtual std::chrono::steady_clock::time_point steadyNow() const = 0;
};

/** The real clock. */
class SystemClock final : public Clock {
public:
  std::chrono::system_clock::time_point now() const override {
    return std::chrono::system_clock::now();
  }
  std::chrono::steady_clock::time_point steadyNow() const override {
    return std::chrono::steady_clock::now();
  }
};

}  // namespace spendgate::core
