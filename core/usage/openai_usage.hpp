#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <string>

#include "core/usage/json_fields.hpp"
#include "core/usage/usage.hpp"

namespace spendgate::core {

/**
 * Normalizes an OpenAI-shaped `usage` object into `out` (counts only; model and tier untouched).
 *
 * Understands both namings: Chat/legacy Completions/Embeddings (`prompt_tokens`,
 * `completion_tokens`, `prompt_tokens_details.cached_tokens`,
 * `completion_tokens_details.reasoning_tokens`, and the `audio_tokens` of both details) and the
 * Responses API (`input_tokens`,
 * `output_tokens`, `input_tokens_details`, `output_tokens_details`). Cached and reasoning tokens
 * are already subsets there, so they are copied, not added.
 *
 * @param gemini_compat Gemini's OpenAI-compatible endpoint leaves thinking out of
 *   `completion_tokens`; output is then `total_tokens - prompt_tokens` and the difference counts
 *   as reasoning.
 * @param counts flags garbage counters.
 */
void parseOpenAiUsage(const boost::json::object& usage,
                      bool gemini_compat,
                      json_fields::CountReader& counts,
                      Usage& out);

/** The members of an OpenAI-shaped `usage` object that parseOpenAiUsage() reads. */
struct OpenAiUsageFields {
  bool has_input_tokens = false;   // present, whatever its type: the Responses naming
  bool has_output_tokens = false;  // (same)
  json_fields::CountValue prompt_tokens;
  json_fields::CountValue completion_tokens;
  json_fields::CountValue input_tokens;
  json_fields::CountValue output_tokens;
  json_fields::CountValue total_tokens;
  json_fields::CountValue prompt_cached;         // prompt_tokens_details.cached_tokens
  json_fields::CountValue input_cached;          // input_tokens_details.cached_tokens
  json_fields::CountValue completion_reasoning;  // completion_tokens_details.reasoning_tokens
  json_fields::CountValue output_reasoning;      // output_tokens_details.reasoning_tokens
  json_fields::CountValue prompt_audio;          // prompt_tokens_details.audio_tokens
  json_fields::CountValue completion_audio;      // completion_tokens_details.audio_tokens
};

/** parseOpenAiUsage() for a `usage` object read without a document (same rules). */
void parseOpenAiUsage(const OpenAiUsageFields& usage,
                      bool gemini_compat,
                      json_fields::CountReader& counts,
                      Usage& out);

/**
 * What one OpenAI-shaped body (a non-streamed answer, or one streamed chunk event) contributes,
 * as UsageExtractor's one-pass scan reads it without a document; applied only if the scan got
 * to the end. Kept by the extractor and reset per body, so its strings keep their capacity.
 */
struct OpenAiAnswer {
  std::string model;
  std::string service_tier;
  bool has_usage = false;  // `usage` is an object
  OpenAiUsageFields usage;
  // UsageEstimator::weight of the choices' text, message (or delta) texts, tool arguments
  std::int64_t output_weight = 0;

  /** Back to a new one's values; the strings keep their capacity. */
  void reset() {
    model.clear();
    service_tier.clear();
    has_usage = false;
    usage = OpenAiUsageFields{};
    output_weight = 0;
  }
};

}  // namespace spendgate::core
