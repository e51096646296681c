#pragma once

#include <boost/json/object.hpp>

#include "core/usage/json_fields.hpp"
#include "core/usage/usage.hpp"

namespace spendgate::core {

/**
 * Normalizes an OpenAI-shaped `usage` object into `out` (counts only; model and tier untouched).
 *
 * Understands both namings: Chat/legacy Completions/Embeddings (`prompt_tokens`,
 * `completion_tokens`, `prompt_tokens_details.cached_tokens`,
 * `completion_tokens_details.reasoning_tokens`) and the Responses API (`input_tokens`,
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

}  // namespace spendgate::core
