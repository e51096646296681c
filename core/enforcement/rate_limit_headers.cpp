#include "core/enforcement/rate_limit_headers.hpp"

#include "core/enforcement/gcra.hpp"

namespace spendgate::core {

namespace {

RateLimitStatus status(std::int64_t rate, std::int64_t level) {
  return RateLimitStatus{static_cast<std::uint64_t>(rate),
                         static_cast<std::uint64_t>(gcra::remaining(level, rate)),
                         std::chrono::milliseconds{gcra::resetMs(level, rate)}};
}

void keepTightest(std::optional<RateLimitStatus>& current, const RateLimitStatus& candidate) {
  if (!current || candidate.remaining < current->remaining) current = candidate;
}

}  // namespace

RateLimitHeaders rateLimitHeaders(const std::vector<RateCharge>& charges,
                                  const std::vector<RateLevels>& levels) {
  RateLimitHeaders headers;
  for (std::size_t i = 0; i < charges.size() && i < levels.size(); ++i) {
    const RateCharge& c = charges[i];
    if (c.requests_per_minute > 0) {
      keepTightest(headers.requests, status(c.requests_per_minute, levels[i].requests));
    }
    if (c.tokens_per_minute > 0) {
      keepTightest(headers.tokens, status(c.tokens_per_minute, levels[i].tokens));
    }
  }
  return headers;
}

}  // namespace spendgate::core
