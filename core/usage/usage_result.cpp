#include "core/usage/usage_result.hpp"

namespace spendgate::core {

std::string_view usageStatusName(UsageStatus status) {
  switch (status) {
    case UsageStatus::Reported:
      return "reported";
    case UsageStatus::Partial:
      return "partial";
    case UsageStatus::Estimated:
      return "estimated";
    case UsageStatus::NotBillable:
      return "not_billable";
    case UsageStatus::Malformed:
      return "malformed";
    case UsageStatus::Absurd:
      return "absurd";
    case UsageStatus::TooLarge:
      return "too_large";
  }
  return "not_billable";
}

}  // namespace spendgate::core
