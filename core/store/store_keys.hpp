#pragma once

#include <string>
#include <string_view>

namespace spendgate::core {

/**
 * Redis key names of the shared store. Every key starts with `prefix`; for Redis Cluster pick a
 * prefix with a hash tag ("{spendgate}:") so that all keys share one slot, because the scripts
 * touch keys recorded in reservations that the caller cannot declare in advance.
 */
class StoreKeys {
public:
  explicit StoreKeys(std::string prefix = "spendgate:") : prefix_(std::move(prefix)) {}

  const std::string& prefix() const { return prefix_; }
  /** Hash: the emergency stop (fields: see emergencyStopFields). */
  std::string emergencyStop() const { return prefix_ + "estop"; }
  /** Sorted set: active reservation record keys by expiry (ms). */
  std::string expiries() const { return prefix_ + "rsv:exp"; }
  /** String: the last flush sequence number lease.lua applied for `instance`. */
  std::string leaseSequence(std::string_view instance) const;
  /** Hash: one reservation record. */
  std::string reservation(std::string_view id) const;
  /** Sorted set: budget counter keys by period end (ms), for the admin listing. */
  std::string budgetIndex() const { return prefix_ + "budgets"; }
  /** A counter named by the plan ("budget:...", "rate:...", "spend:..."). */
  std::string counter(std::string_view plan_key) const { return prefix_ + std::string(plan_key); }
  /** @return `key` without the prefix (the plan's name for it). */
  std::string planKey(std::string_view key) const;

private:
  std::string prefix_;
};

}  // namespace spendgate::core
