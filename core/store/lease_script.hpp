#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/enforcement/enforcement_plan.hpp"
#include "core/store/counter_store_types.hpp"
#include "core/store/script_value.hpp"
#include "core/store/store_keys.hpp"

// One flush of an instance's leased slices (core/store/lua/lease.lua; docs/store.md).
namespace spendgate::core {

/** A budget counter: spend settled locally, slice handed back, and whether a slice is wanted. */
struct LeaseBudgetEntry {
  BudgetCharge counter;         // metadata (creates a missing counter); amount unused
  Picodollars spent_delta = 0;  // settled locally since the last flush
  Picodollars release = 0;      // unused slice handed back
  Picodollars unit = 0;         // > 0: wants a slice, sized for requests of this worst case
  /**
   * Local in-flight worst cases and spend not in this flush: what the instance holds beyond
   * spent_delta. Lets lease.lua cut the charge of a slice that lapsed while we were alive.
   */
  Picodollars held = 0;
};

/** A rate-limit bucket: units of the last slice handed back, and whether a slice is wanted. */
struct LeaseRateEntry {
  RateCharge rate;
  std::int64_t refund_requests = 0;
  std::int64_t refund_tokens = 0;  // may be negative (actual tokens above the estimates)
  std::int64_t want_requests = 0;  // > 0: wants a slice
  std::int64_t want_tokens = 0;    // > 0: wants a slice, sized for requests of this many tokens
};

/** The global spend counter: spend settled locally. */
struct LeaseSpendEntry {
  SpendCharge spend;
  Picodollars delta = 0;
};

/** What one flush sends; `seq` makes it idempotent per instance. */
struct LeaseFlush {
  std::uint64_t seq = 0;
  std::chrono::system_clock::time_point now;
  std::vector<LeaseBudgetEntry> budgets;
  std::vector<LeaseRateEntry> rates;
  std::vector<LeaseSpendEntry> spends;

  bool empty() const { return budgets.empty() && rates.empty() && spends.empty(); }
};

struct LeaseBudgetState {
  bool exists = false;
  Picodollars lease = 0;  // this instance's slice after the flush
  Picodollars spent = 0;
  Picodollars reserved = 0;
  Picodollars leased = 0;  // every instance's slices
  bool reclaim = false;    // holders are asked to give back what they do not use
};

struct LeaseRateState {
  std::int64_t granted_requests = 0;
  std::int64_t granted_tokens = 0;
  std::int64_t rq = 0;  // GCRA levels after the flush
  std::int64_t tk = 0;
};

/** lease.lua's answer, entries in the flush's order. */
struct LeaseReply {
  bool replay = false;  // the flush had been applied before: nothing changed
  std::vector<LeaseBudgetState> budgets;
  std::vector<LeaseRateState> rates;
  std::vector<Picodollars> spends;
};

/** Sizing of slices: lease only with headroom >= factor x unit; a slice is headroom / divisor. */
struct LeaseSizing {
  std::int64_t factor = 64;
  std::int64_t divisor = 32;
  std::chrono::milliseconds ttl{5000};
};

class LeaseScript {
public:
  static ScriptCall call(const StoreKeys& keys,
                         const std::string& instance,
                         const LeaseFlush& flush,
                         const LeaseSizing& sizing,
                         bool server_time = false);

  static StoreResult<LeaseReply> parse(const LeaseFlush& flush, const ScriptValue& reply);
};

}  // namespace spendgate::core
