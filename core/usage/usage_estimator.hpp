#pragma once

#include <cstdint>
#include <string_view>

namespace spendgate::core {

/**
 * The estimation rule used when a provider's own counts are missing (stream cut, usage chunk never
 * sent, unparseable body): about four characters per token.
 *
 * - input ≈ ceil(request body bytes / 4): the body's JSON overhead roughly offsets the lower
 *   characters-per-token ratio of non-English text.
 * - output ≈ ceil(generated characters / 4), counting Unicode code points of every text,
 *   reasoning and tool-argument delta seen.
 *
 * An estimate is always flagged as such in the ledger (usage_source "estimated").
 */
class UsageEstimator {
public:
  static constexpr std::int64_t kCharsPerToken = 4;

  explicit UsageEstimator(std::int64_t request_body_bytes = 0)
      : request_body_bytes_(request_body_bytes) {}

  /** Counts generated text (any UTF-8; counted in code points). */
  void addOutputText(std::string_view utf8);

  /** Counts generated text whose size is known only in bytes. */
  void addOutputBytes(std::int64_t bytes) { output_chars_ += bytes; }

  std::int64_t inputTokens() const { return tokensFor(request_body_bytes_); }
  std::int64_t outputTokens() const { return tokensFor(output_chars_); }
  std::int64_t outputChars() const { return output_chars_; }

  /**
   * @return the bytes of `utf8` that are not UTF-8 continuation bytes (10xxxxxx): its code
   *         points when it is valid UTF-8, and what addOutputText counts in any case
   */
  static std::int64_t codePoints(std::string_view utf8);

  /** @return ceil(chars / kCharsPerToken). */
  static std::int64_t tokensFor(std::int64_t chars) {
    return chars <= 0 ? 0 : (chars + kCharsPerToken - 1) / kCharsPerToken;
  }

private:
  std::int64_t request_body_bytes_;
  std::int64_t output_chars_ = 0;
};

}  // namespace spendgate::core
