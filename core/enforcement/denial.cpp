#include "core/enforcement/denial.hpp"

#include <algorithm>

namespace spendgate::core {

std::string_view denialReasonName(DenialReason reason) {
  switch (reason) {
    case DenialReason::EmergencyStop:
      return "emergency_stop";
    case DenialReason::UnknownKey:
      return "unknown_key";
    case DenialReason::RequestCost:
      return "request_cost";
    case DenialReason::RateLimit:
      return "rate_limit";
    case DenialReason::Budget:
      return "budget";
    case DenialReason::StoreUnavailable:
      return "store_unavailable";
    case DenialReason::UnknownModel:
      return "unknown_model";
  }
  return "unknown";
}

std::optional<std::int64_t> Denial::retryAfterSeconds() const {
  if (!retry_after) return std::nullopt;
  const std::int64_t ms = retry_after->count();
  return std::max<std::int64_t>(1, (ms + 999) / 1000);
}

}  // namespace spendgate::core
