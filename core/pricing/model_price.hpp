#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "core/pricing/money.hpp"

namespace spendgate::core {

/**
 * Per-token rates in picodollars (= micro-USD per 1M tokens: 2.50 USD/1M is 2'500'000).
 * Unset optional rates derive from `input`: cached input = input (never under-charge), cache
 * writes = Anthropic's multipliers, 1.25 x input for 5 minutes and 2 x input for 1 hour. Audio
 * tokens have their own rates where a model sets them (OpenAI's audio models, Gemini's audio
 * input), else the text rates.
 */
struct TokenRates {
  Picodollars input = 0;
  std::optional<Picodollars> cached_input;
  std::optional<Picodollars> cache_write_5m;
  std::optional<Picodollars> cache_write_1h;
  Picodollars output = 0;
  std::optional<Picodollars> input_audio;
  std::optional<Picodollars> output_audio;

  Picodollars cachedInput() const { return cached_input.value_or(input); }
  Picodollars inputAudio() const { return input_audio.value_or(input); }
  Picodollars outputAudio() const { return output_audio.value_or(output); }
  Picodollars cacheWrite5m() const { return cache_write_5m.value_or(input * 5 / 4); }
  Picodollars cacheWrite1h() const { return cache_write_1h.value_or(input * 2); }

  friend bool operator==(const TokenRates&, const TokenRates&) = default;
};

/** Rates that replace the base rates for the whole request once its prompt is long. */
struct LongContextRates {
  /** Applies when Usage::input_tokens (every prompt token) is above this. */
  std::int64_t above_input_tokens = 0;
  TokenRates rates;

  friend bool operator==(const LongContextRates&, const LongContextRates&) = default;
};

/** Where a price entry came from. */
enum class PriceOrigin { Catalog, Config };

/** Everything known about one model's price. */
struct ModelPrice {
  TokenRates rates;
  std::optional<LongContextRates> long_context;
  /** Service-tier variants by the name the response reports ("flex", "priority", "batch"). */
  std::map<std::string, TokenRates, std::less<>> tiers;
  /** Server-side web search, per call. */
  Picodollars web_search_per_call = 0;
  /** The model's output cap, bounding worst-case cost; 0 = unknown (embeddings: set to 0 too,
   * the embeddings endpoint bounds output to 0 regardless). */
  std::int64_t max_output_tokens = 0;
  PriceOrigin origin = PriceOrigin::Catalog;

  friend bool operator==(const ModelPrice&, const ModelPrice&) = default;
};

}  // namespace spendgate::core
