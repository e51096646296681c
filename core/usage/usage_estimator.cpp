#include "core/usage/usage_estimator.hpp"

#include <cstring>

namespace spendgate::core {

std::int64_t UsageEstimator::codePoints(std::string_view utf8) {
  constexpr std::uint64_t kHighs = 0x8080808080808080ULL;
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  const char* p = utf8.data();
  std::size_t n = utf8.size();
  std::int64_t count = 0;
  // Eight bytes at a time. A continuation byte has its top bit set and the next one clear:
  // (x << 1) moves each byte's bit 6 to its bit 7. The continuation bytes' flags, moved to each
  // byte's low bit, are summed into the top byte by the multiplication (at most 8: no carry).
  for (; n >= 8; p += 8, n -= 8) {
    std::uint64_t x;
    std::memcpy(&x, p, 8);
    const std::uint64_t continuation = x & ~(x << 1) & kHighs;
    count += 8 - static_cast<std::int64_t>(((continuation >> 7) * kOnes) >> 56);
  }
  for (; n > 0; ++p, --n) {
    if ((static_cast<unsigned char>(*p) & 0xC0) != 0x80) ++count;
  }
  return count;
}

void UsageEstimator::addOutputText(std::string_view utf8) { output_chars_ += codePoints(utf8); }

}  // namespace spendgate::core
