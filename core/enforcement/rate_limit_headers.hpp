#pragma once

#include <cstdint>
#include <vector>

#include "core/enforcement/denial.hpp"
#include "core/enforcement/enforcement_plan.hpp"

namespace spendgate::core {

/** GCRA levels of one rate-limit counter (see core/enforcement/gcra.hpp). */
struct RateLevels {
  std::int64_t requests = 0;
  std::int64_t tokens = 0;
};

/**
 * @return the `x-ratelimit-*` data: per family (requests, tokens) the applicable limit with the
 * fewest remaining units, first in config order on ties.
 * @param levels one per plan rate charge, same order
 */
RateLimitHeaders rateLimitHeaders(const std::vector<RateCharge>& charges,
                                  const std::vector<RateLevels>& levels);

}  // namespace spendgate::core
