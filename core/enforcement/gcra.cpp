#include "core/enforcement/gcra.hpp"

#include <algorithm>

namespace spendgate::core::gcra {

namespace {

std::int64_t ceilDiv(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

}  // namespace

std::int64_t drainsFrom(std::int64_t last_ms, std::int64_t now_ms) {
  return last_ms - now_ms > kClockStepBackMs ? now_ms : last_ms;
}

std::int64_t nextLast(std::int64_t last_ms, std::int64_t now_ms) {
  return std::max(drainsFrom(last_ms, now_ms), now_ms);
}

std::int64_t stalledMs(std::int64_t last_ms, std::int64_t now_ms) {
  return std::max<std::int64_t>(0, drainsFrom(last_ms, now_ms) - now_ms);
}

std::int64_t clampUnits(std::int64_t units) {
  return std::clamp<std::int64_t>(units, 0, kMaxUnits);
}

std::int64_t drain(std::int64_t level, std::int64_t elapsed_ms, std::int64_t rate) {
  if (elapsed_ms <= 0 || rate <= 0) return level;
  // elapsed x rate may not fit; past kMaxLevel / rate the bucket is empty anyway.
  if (elapsed_ms > kMaxLevel / rate) return 0;
  return std::max<std::int64_t>(0, level - elapsed_ms * rate);
}

std::int64_t add(std::int64_t level, std::int64_t delta_units) {
  const std::int64_t delta = std::clamp(delta_units, -kMaxUnits, kMaxUnits) * kWindowMs;
  return std::clamp<std::int64_t>(level + delta, 0, kMaxLevel);
}

std::optional<std::int64_t> waitMs(std::int64_t level, std::int64_t units, std::int64_t rate) {
  if (units > rate) return std::nullopt;
  const std::int64_t excess = level + units * kWindowMs - rate * kWindowMs;
  if (excess <= 0) return 0;
  return ceilDiv(excess, rate);
}

std::int64_t remaining(std::int64_t level, std::int64_t rate) {
  return std::max<std::int64_t>(0, (rate * kWindowMs - level) / kWindowMs);
}

std::int64_t resetMs(std::int64_t level, std::int64_t rate) {
  return level <= 0 ? 0 : ceilDiv(level, rate);
}

}  // namespace spendgate::core::gcra
