#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace spendgate::core {

/** Why a request is refused, in SPEC §4 order of checking. */
enum class DenialReason {
  EmergencyStop,
  UnknownKey,
  RequestCost,
  RateLimit,
  Budget,
  StoreUnavailable,
  UnknownModel,
};

/** Every reason, in SPEC §4's table order (metrics show each from the start, at 0). */
inline constexpr DenialReason kAllDenialReasons[] = {
    DenialReason::EmergencyStop, DenialReason::UnknownKey, DenialReason::RequestCost,
    DenialReason::RateLimit,     DenialReason::Budget,     DenialReason::StoreUnavailable,
    DenialReason::UnknownModel,
};

/** @return the `x-spendgate-denied` value: "emergency_stop", "unknown_key", "request_cost", ... */
std::string_view denialReasonName(DenialReason reason);

/** Data for one family of `x-ratelimit-*-requests` / `x-ratelimit-*-tokens` headers. */
struct RateLimitStatus {
  std::uint64_t limit = 0;             // per minute
  std::uint64_t remaining = 0;         // what could still pass right now
  std::chrono::milliseconds reset{0};  // until the limit is fully available again

  friend bool operator==(const RateLimitStatus&, const RateLimitStatus&) = default;
};

/** The most restrictive applicable rate limit per family; nullopt where none applies. */
struct RateLimitHeaders {
  std::optional<RateLimitStatus> requests;
  std::optional<RateLimitStatus> tokens;

  friend bool operator==(const RateLimitHeaders&, const RateLimitHeaders&) = default;
};

/**
 * A refused request: what the proxy turns into the provider-format error body and headers.
 * `message` is shown to end users by the SDKs, so it names the rule, the limit and (budgets) the
 * spend. Build these with the functions in denial_messages.hpp.
 */
struct Denial {
  DenialReason reason = DenialReason::Budget;
  std::string rule;     // budget or rate-limit name; "" when no named rule is involved
  std::string message;  // one sentence or two, no trailing newline
  /** `retry-after-ms`; nullopt when waiting will not help or the end is unknown. */
  std::optional<std::chrono::milliseconds> retry_after;
  bool should_retry = false;     // `x-should-retry`
  RateLimitHeaders rate_limits;  // `x-ratelimit-*`: rate-limit and budget denials

  /** @return `retry-after` in whole seconds, rounded up and at least 1; nullopt without one. */
  std::optional<std::int64_t> retryAfterSeconds() const;
};

}  // namespace spendgate::core
