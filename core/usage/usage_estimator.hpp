#pragma once

#include <cstdint>
#include <string_view>

namespace spendgate::core {

/**
 * The estimation rule used when a provider's own counts are missing (stream cut, usage chunk never
 * sent, unparseable body).
 *
 * - input ≈ ceil(request body bytes / 4): English runs about four bytes per token; a CJK
 *   character is three bytes for about one token, so an all-CJK prompt comes out up to a quarter
 *   low, partly made up by the body's JSON (docs/metering.md, "Estimation rule").
 * - output ≈ ceil(ASCII characters / 4) + one token per other code point, for every text,
 *   reasoning and tool-argument delta seen: English runs about four characters per token, but
 *   provider tokenizers spend about one token or more on each CJK character or emoji.
 *
 * Output text is counted in quarter tokens ("weight"): 1 per ASCII character, 4 per other code
 * point, so ceil(weight / 4) is the sum above, the ASCII part rounded up.
 *
 * An estimate is always flagged as such in the ledger (usage_source "estimated").
 */
class UsageEstimator {
public:
  static constexpr std::int64_t kCharsPerToken = 4;

  explicit UsageEstimator(std::int64_t request_body_bytes = 0)
      : request_body_bytes_(request_body_bytes) {}

  /** Counts generated text (any UTF-8). */
  void addOutputText(std::string_view utf8) { output_weight_ += weight(utf8); }

  /** Counts generated text already weighed (weight()). */
  void addOutputWeight(std::int64_t weight) { output_weight_ += weight; }

  std::int64_t inputTokens() const { return tokensFor(request_body_bytes_); }
  std::int64_t outputTokens() const { return tokensFor(output_weight_); }
  /** @return the weight of the output text seen: 0 when there was none. */
  std::int64_t outputWeight() const { return output_weight_; }

  /**
   * @return the weight of `utf8` in quarter tokens: 1 per ASCII byte, 4 per lead byte of a
   *         multi-byte sequence (one per other code point when it is valid UTF-8), 0 per
   *         continuation byte (10xxxxxx)
   */
  static std::int64_t weight(std::string_view utf8);

  /** @return ceil(units / kCharsPerToken). */
  static std::int64_t tokensFor(std::int64_t units) {
    return units <= 0 ? 0 : (units + kCharsPerToken - 1) / kCharsPerToken;
  }

private:
  std::int64_t request_body_bytes_;
  std::int64_t output_weight_ = 0;
};

}  // namespace spendgate::core
