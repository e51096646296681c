#include "core/pricing/money.hpp"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

namespace spendgate::core {

namespace {
constexpr double kMaxUsdPerMillion = 1e9;
constexpr char kDigitPairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";
}  // namespace

double toUsd(Picodollars amount) {
  // Read back from the exact decimal: the nearest double, so that its shortest spelling is the
  // decimal itself below $4096 (whole + frac / 1e12 rounds twice and can print as
  // 100.00000000000001).
  char buffer[kMaxUsdChars];
  char* end = formatUsdTo(buffer, amount);
  double usd = 0;
  std::from_chars(buffer, end, usd);
  return usd;
}

std::optional<Picodollars> ratePerTokenFromUsdPerMillion(double usd_per_million) {
  if (!std::isfinite(usd_per_million) || usd_per_million < 0 ||
      usd_per_million > kMaxUsdPerMillion) {
    return std::nullopt;
  }
  return static_cast<Picodollars>(std::llround(usd_per_million * 1e6));
}

std::optional<Picodollars> parseUsdPerMillion(std::string_view text) {
  if (text.empty()) return std::nullopt;
  Picodollars whole = 0;
  std::size_t i = 0;
  bool digits = false;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    whole = whole * 10 + (text[i] - '0');
    digits = true;
    if (whole > static_cast<Picodollars>(kMaxUsdPerMillion)) return std::nullopt;
  }
  Picodollars frac = 0;
  int frac_digits = 0;
  if (i < text.size() && text[i] == '.') {
    for (++i; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
      if (++frac_digits > 6) return std::nullopt;
      frac = frac * 10 + (text[i] - '0');
      digits = true;
    }
  }
  if (!digits || i != text.size()) return std::nullopt;
  for (; frac_digits < 6; ++frac_digits) frac *= 10;
  return whole * 1'000'000 + frac;
}

std::optional<Picodollars> parseUsd(std::string_view text) {
  const bool negative = !text.empty() && text.front() == '-';
  if (negative) text.remove_prefix(1);
  // Accumulated as picodollars of the magnitude, unsigned so that INT64_MIN still parses.
  constexpr std::uint64_t kPer = static_cast<std::uint64_t>(kPicodollarsPerUsd);
  constexpr std::uint64_t kMaxWhole =
      (static_cast<std::uint64_t>(std::numeric_limits<Picodollars>::max()) + 1) / kPer;
  std::uint64_t whole = 0;
  std::size_t i = 0;
  bool digits = false;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    whole = whole * 10 + static_cast<std::uint64_t>(text[i] - '0');
    digits = true;
    if (whole > kMaxWhole) return std::nullopt;
  }
  if (!digits) return std::nullopt;  // ".5" and "-" are not what formatUsd writes
  std::uint64_t frac = 0;
  int frac_digits = 0;
  if (i < text.size() && text[i] == '.') {
    for (++i; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
      if (++frac_digits > 12) return std::nullopt;
      frac = frac * 10 + static_cast<std::uint64_t>(text[i] - '0');
    }
    if (frac_digits == 0) return std::nullopt;
  }
  if (i != text.size()) return std::nullopt;
  for (; frac_digits < 12; ++frac_digits) frac *= 10;
  const std::uint64_t magnitude = whole * kPer + frac;
  const auto limit =
      static_cast<std::uint64_t>(std::numeric_limits<Picodollars>::max()) + (negative ? 1 : 0);
  if (magnitude > limit) return std::nullopt;
  if (!negative) return static_cast<Picodollars>(magnitude);
  return magnitude == limit ? std::numeric_limits<Picodollars>::min()
                            : -static_cast<Picodollars>(magnitude);
}

char* formatUsdTo(char* out, Picodollars amount) {
  if (amount < 0) *out++ = '-';
  // Work on the magnitude as unsigned so that INT64_MIN does not overflow.
  const auto magnitude = amount < 0 ? static_cast<std::uint64_t>(-(amount + 1)) + 1
                                    : static_cast<std::uint64_t>(amount);
  const std::uint64_t per = static_cast<std::uint64_t>(kPicodollarsPerUsd);
  out = std::to_chars(out, out + 20, magnitude / per).ptr;
  std::uint64_t frac = magnitude % per;
  if (frac == 0) return out;
  // Twelve decimals written two at a time from the right, then trailing zeros trimmed (frac is
  // not 0, so a digit other than 0 stops the trim before the point): six divisions instead of
  // one per decimal and one per trailing zero, on every answer's header and ledger line.
  *out++ = '.';
  for (int i = 10; i >= 0; i -= 2) {
    std::memcpy(out + i, kDigitPairs + 2 * (frac % 100), 2);
    frac /= 100;
  }
  char* end = out + 12;
  while (end[-1] == '0') --end;
  return end;
}

std::string formatUsd(Picodollars amount) {
  char buffer[kMaxUsdChars];
  return std::string(buffer, formatUsdTo(buffer, amount));
}

}  // namespace spendgate::core
