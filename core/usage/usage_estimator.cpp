#include "core/usage/usage_estimator.hpp"

namespace spendgate::core {

void UsageEstimator::addOutputText(std::string_view utf8) {
  std::int64_t code_points = 0;
  for (const char c : utf8) {
    // Count every byte that is not a UTF-8 continuation byte (10xxxxxx).
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++code_points;
  }
  output_chars_ += code_points;
}

}  // namespace spendgate::core
