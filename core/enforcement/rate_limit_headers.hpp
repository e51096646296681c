#pragma once

#include <cstdint>
#include <vector>

#include "core/enforcement/denial.hpp"
#include "core/enforcement/enforcement_plan.hpp"

namespace spendgate::core {

/**
 * What a refusal for concurrency says to wait: when a slot frees up depends on other requests.
 * The Lua admit script uses the same 1000.
 */
inline constexpr std::int64_t kConcurrencyRetryMs = 1000;

/** Levels of one rate-limit counter: GCRA (see core/enforcement/gcra.hpp) and slots in use. */
struct RateLevels {
  std::int64_t requests = 0;
  std::int64_t tokens = 0;
  std::int64_t inflight = 0;
};

/**
 * @return the `x-ratelimit-*` data: per family (requests, tokens) the applicable limit with the
 * fewest remaining units, first in config order on ties. Requests come from the
 * `requests_per_minute` rules only, when any applies (clients read them as the per-minute
 * limit). When none does, rules with `concurrent` fill them: limit = `concurrent`, remaining =
 * free slots, reset = 0 while a slot is free, else kConcurrencyRetryMs (the refusal's wait).
 * @param levels one per plan rate charge, same order
 */
RateLimitHeaders rateLimitHeaders(const std::vector<RateCharge>& charges,
                                  const std::vector<RateLevels>& levels);

}  // namespace spendgate::core
