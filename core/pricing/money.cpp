#include "core/pricing/money.hpp"

#include <cmath>
#include <limits>

namespace spendgate::core {

namespace {
constexpr Picodollars kMax = std::numeric_limits<Picodollars>::max();
constexpr Picodollars kMin = std::numeric_limits<Picodollars>::min();
constexpr double kMaxUsdPerMillion = 1e9;
}  // namespace

Picodollars saturatingAdd(Picodollars a, Picodollars b) {
  Picodollars r = 0;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? kMax : kMin;
  return r;
}

Picodollars saturatingMul(std::int64_t count, Picodollars rate) {
  Picodollars r = 0;
  if (__builtin_mul_overflow(count, rate, &r)) return (count < 0) != (rate < 0) ? kMin : kMax;
  return r;
}

double toUsd(Picodollars amount) {
  // Split so that the integer part converts exactly.
  const Picodollars whole = amount / kPicodollarsPerUsd;
  const Picodollars frac = amount % kPicodollarsPerUsd;
  return static_cast<double>(whole) +
         static_cast<double>(frac) / static_cast<double>(kPicodollarsPerUsd);
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

std::string formatUsd(Picodollars amount) {
  std::string sign = amount < 0 ? "-" : "";
  // Work on the magnitude as unsigned so that INT64_MIN does not overflow.
  const auto magnitude = amount < 0 ? static_cast<std::uint64_t>(-(amount + 1)) + 1
                                    : static_cast<std::uint64_t>(amount);
  const std::uint64_t per = static_cast<std::uint64_t>(kPicodollarsPerUsd);
  std::string frac = std::to_string(magnitude % per);
  frac.insert(0, 12 - frac.size(), '0');
  while (!frac.empty() && frac.back() == '0') frac.pop_back();
  std::string out = sign + std::to_string(magnitude / per);
  if (!frac.empty()) out += "." + frac;
  return out;
}

}  // namespace spendgate::core
