#include "core/enforcement/rate_limit_headers.hpp"

#include "core/enforcement/gcra.hpp"

namespace spendgate::core {

namespace {

RateLimitStatus status(std::int64_t rate, std::int64_t level) {
  return RateLimitStatus{static_cast<std::uint64_t>(rate),
                         static_cast<std::uint64_t>(gcra::remaining(level, rate)),
                         std::chrono::milliseconds{gcra::resetMs(level, rate)}};
}

/** Concurrency as request headers: the slots left, and the wait a refusal would give. */
RateLimitStatus concurrencyStatus(std::int64_t concurrent, std::int64_t inflight) {
  const std::int64_t free = inflight < concurrent ? concurrent - inflight : 0;
  return RateLimitStatus{static_cast<std::uint64_t>(concurrent), static_cast<std::uint64_t>(free),
                         std::chrono::milliseconds{free > 0 ? 0 : kConcurrencyRetryMs}};
}

void keepTightest(std::optional<RateLimitStatus>& current, const RateLimitStatus& candidate) {
  if (!current || candidate.remaining < current->remaining) current = candidate;
}

}  // namespace

RateLimitHeaders rateLimitHeaders(const std::vector<RateCharge>& charges,
                                  const std::vector<RateLevels>& levels) {
  RateLimitHeaders headers;
  std::optional<RateLimitStatus> slots;
  for (std::size_t i = 0; i < charges.size() && i < levels.size(); ++i) {
    const RateCharge& c = charges[i];
    if (c.requests_per_minute > 0) {
      keepTightest(headers.requests, status(c.requests_per_minute, levels[i].requests));
    } else if (c.concurrent > 0) {
      keepTightest(slots, concurrencyStatus(c.concurrent, levels[i].inflight));
    }
    if (c.tokens_per_minute > 0) {
      keepTightest(headers.tokens, status(c.tokens_per_minute, levels[i].tokens));
    }
  }
  // OpenAI clients read x-ratelimit-*-requests as the per-minute request limit, so any rate
  // beats any slots; slots fill the headers only when no applying rule has a rate, or it
  // would send nothing.
  if (!headers.requests) headers.requests = slots;
  return headers;
}

}  // namespace spendgate::core
