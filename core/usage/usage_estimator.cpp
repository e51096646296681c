#include "core/usage/usage_estimator.hpp"

#include <cstring>

namespace spendgate::core {

std::int64_t UsageEstimator::weight(std::string_view utf8) {
  constexpr std::uint64_t kHighs = 0x8080808080808080ULL;
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  const char* p = utf8.data();
  std::size_t n = utf8.size();
  // bytes + 3 per byte with its top bit set - 4 per continuation byte: 1 per ASCII byte, 4 per
  // lead byte, 0 per continuation byte.
  std::int64_t high = 0;
  std::int64_t continuation_count = 0;
  const std::int64_t bytes = static_cast<std::int64_t>(n);
  // Eight bytes at a time. A continuation byte has its top bit set and the next one clear:
  // (x << 1) moves each byte's bit 6 to its bit 7. Each byte's flag, moved to its low bit, is
  // summed into the top byte by the multiplication (at most 8: no carry).
  for (; n >= 8; p += 8, n -= 8) {
    std::uint64_t x;
    std::memcpy(&x, p, 8);
    const std::uint64_t continuation = x & ~(x << 1) & kHighs;
    continuation_count += static_cast<std::int64_t>(((continuation >> 7) * kOnes) >> 56);
    high += static_cast<std::int64_t>((((x & kHighs) >> 7) * kOnes) >> 56);
  }
  for (; n > 0; ++p, --n) {
    const auto byte = static_cast<unsigned char>(*p);
    if ((byte & 0xC0) == 0x80) ++continuation_count;
    if (byte & 0x80) ++high;
  }
  return bytes + 3 * high - 4 * continuation_count;
}

}  // namespace spendgate::core
