#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

namespace spendgate::core {

/**
 * Money in picodollars (1e-12 USD). A price in micro-USD per 1M tokens is exactly picodollars per
 * token, so tokens x rate is an exact integer product: no rounding drift across millions of
 * requests. int64 holds up to about 9.2 million USD; sums saturate instead of wrapping.
 */
using Picodollars = std::int64_t;

inline constexpr Picodollars kPicodollarsPerUsd = 1'000'000'000'000;

/** @return a + b, clamped to the int64 range. */
inline Picodollars saturatingAdd(Picodollars a, Picodollars b) {
  Picodollars r = 0;
  if (__builtin_add_overflow(a, b, &r)) {
    return b > 0 ? std::numeric_limits<Picodollars>::max()
                 : std::numeric_limits<Picodollars>::min();
  }
  return r;
}

/** @return count x rate, clamped to the int64 range. */
inline Picodollars saturatingMul(std::int64_t count, Picodollars rate) {
  Picodollars r = 0;
  if (__builtin_mul_overflow(count, rate, &r)) {
    return (count < 0) != (rate < 0) ? std::numeric_limits<Picodollars>::min()
                                     : std::numeric_limits<Picodollars>::max();
  }
  return r;
}

/** @return the amount in USD, for display and JSON only: the double nearest to formatUsd(amount),
 * so that core::plainNumber() writes the same digits for any amount below $4096 (above it, a
 * double no longer tells picodollars apart). */
double toUsd(Picodollars amount);

/**
 * Converts USD per 1M tokens to picodollars per token (= micro-USD per 1M), rounding to the
 * nearest micro-USD. For values that came from a double (config overrides).
 * @return nullopt for negative, NaN or absurdly large values (above 1e9 USD per 1M).
 */
std::optional<Picodollars> ratePerTokenFromUsdPerMillion(double usd_per_million);

/**
 * Parses a plain decimal ("2.50", "0.075", "10") of USD per 1M tokens into picodollars per token
 * exactly. At most 6 decimals (1 micro-USD per 1M tokens), no sign, no exponent.
 */
std::optional<Picodollars> parseUsdPerMillion(std::string_view decimal);

/**
 * Parses what formatUsd() writes ("0.0125", "-3", "12.000000000001") back into picodollars
 * exactly: an optional '-', digits, at most 12 decimals, no exponent.
 * @return nullopt for anything else, or beyond the int64 range
 */
std::optional<Picodollars> parseUsd(std::string_view decimal);

/** @return picodollars formatted as USD with up to 12 decimals, trailing zeros trimmed ("0.0125").
 */
std::string formatUsd(Picodollars amount);

/** formatUsd() without an allocation: writes at most kMaxUsdChars chars to `out` (no NUL).
 * @return one past the last char written. */
inline constexpr std::size_t kMaxUsdChars = 32;
char* formatUsdTo(char* out, Picodollars amount);

}  // namespace spendgate::core
