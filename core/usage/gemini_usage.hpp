#pragma once

#include <boost/json/object.hpp>

#include "core/usage/json_fields.hpp"
#include "core/usage/usage.hpp"

namespace spendgate::core {

/**
 * Normalizes a Gemini `usageMetadata` object into `out` (counts only).
 *
 * `promptTokenCount` already includes `cachedContentTokenCount`; `thoughtsTokenCount` is NOT part
 * of `candidatesTokenCount` and is billed as output, so output = candidates + thoughts and
 * reasoning = thoughts. `toolUsePromptTokenCount` (tool results fed back as prompt) counts as
 * input. The AUDIO entries of `promptTokensDetails` / `candidatesTokensDetails` are the audio
 * input / output. In a stream every chunk carries the running totals: call this for each and keep
 * the last.
 */
void parseGeminiUsage(const boost::json::object& usage_metadata,
                      json_fields::CountReader& counts,
                      Usage& out);

}  // namespace spendgate::core
