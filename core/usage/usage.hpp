#pragma once

#include <cstdint>
#include <string>

namespace spendgate::core {

/**
 * Token counts of one request, normalized across providers (docs/metering.md).
 *
 * Subsets are always *inside* their totals, whatever the provider's own convention:
 * - input_tokens = every prompt token: uncached + cache reads + cache writes. For Anthropic this is
 *   input_tokens + cache_read_input_tokens + cache_creation_input_tokens.
 * - cached_input_tokens ⊆ input_tokens: tokens read from the prompt cache.
 * - cache_write_tokens ⊆ input_tokens: tokens written to the prompt cache (Anthropic only), split
 *   by TTL into cache_write_5m_tokens + cache_write_1h_tokens.
 * - output_tokens = every generated token, reasoning/thinking included (Gemini thoughts are added).
 * - reasoning_tokens ⊆ output_tokens.
 * - audio_input_tokens ⊆ input_tokens, audio_output_tokens ⊆ output_tokens: audio, billed at the
 *   model's audio rates where it has them (OpenAI `*_tokens_details.audio_tokens`, Gemini's AUDIO
 *   modality).
 * Never add a subset to its total again.
 */
struct Usage {
  std::int64_t input_tokens = 0;
  std::int64_t cached_input_tokens = 0;
  std::int64_t cache_write_tokens = 0;
  std::int64_t cache_write_5m_tokens = 0;
  std::int64_t cache_write_1h_tokens = 0;
  std::int64_t output_tokens = 0;
  std::int64_t reasoning_tokens = 0;
  std::int64_t audio_input_tokens = 0;
  std::int64_t audio_output_tokens = 0;
  /** Server-side web searches billed per call (Anthropic server_tool_use). */
  std::int64_t web_search_requests = 0;
  /** The model the response names (a dated snapshot, Gemini modelVersion); "" if none seen. */
  std::string model;
  /** The tier that served the request ("default", "flex", "priority", "standard", "batch"...). */
  std::string service_tier;
  /** True when the counts come from the provider (possibly partial), false when none were seen. */
  bool reported = false;

  /** @return input tokens billed at the plain input rate (neither read from nor written to cache).
   */
  std::int64_t uncachedInputTokens() const {
    return input_tokens - cached_input_tokens - cache_write_tokens;
  }

  friend bool operator==(const Usage&, const Usage&) = default;
};

}  // namespace spendgate::core
