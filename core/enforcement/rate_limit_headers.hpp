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
 * fewest remaining units, first in config order on ties. A rule with `concurrent` but no
 * `requests_per_minute` is a requests candidate too: limit = `concurrent`, remaining = free
 * slots, reset = 0 while a slot is free, else kConcurrencyRetryMs (the refusal's wait). Both
 * kinds of remaining count requests that could start now, so they compare directly.
 * @param levels one per plan rate charge, same order
 */
RateLimitHeaders rateLimitHeaders(const std::vector<RateCharge>& charges,
                                  const std::vector<RateLevels>& levels);

}  // namespace spendgate::core
