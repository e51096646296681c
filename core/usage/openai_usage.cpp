#include "core/usage/openai_usage.hpp"

#include <algorithm>

namespace spendgate::core {

using json_fields::CountReader;
using json_fields::objectMember;

void parseOpenAiUsage(const boost::json::object& usage,
                      bool gemini_compat,
                      CountReader& counts,
                      Usage& out) {
  using json_fields::CountValue;
  using json_fields::member;
  OpenAiUsageFields fields;
  fields.has_input_tokens = usage.contains("input_tokens");
  fields.has_output_tokens = usage.contains("output_tokens");
  fields.prompt_tokens = CountValue::of(usage.if_contains("prompt_tokens"));
  fields.completion_tokens = CountValue::of(usage.if_contains("completion_tokens"));
  fields.input_tokens = CountValue::of(usage.if_contains("input_tokens"));
  fields.output_tokens = CountValue::of(usage.if_contains("output_tokens"));
  fields.total_tokens = CountValue::of(usage.if_contains("total_tokens"));
  // Detail objects may be missing, null or not objects: their counters are then absent.
  fields.prompt_cached =
      CountValue::of(member(objectMember(&usage, "prompt_tokens_details"), "cached_tokens"));
  fields.input_cached =
      CountValue::of(member(objectMember(&usage, "input_tokens_details"), "cached_tokens"));
  fields.completion_reasoning =
      CountValue::of(member(objectMember(&usage, "completion_tokens_details"), "reasoning_tokens"));
  fields.output_reasoning =
      CountValue::of(member(objectMember(&usage, "output_tokens_details"), "reasoning_tokens"));
  fields.prompt_audio =
      CountValue::of(member(objectMember(&usage, "prompt_tokens_details"), "audio_tokens"));
  fields.completion_audio =
      CountValue::of(member(objectMember(&usage, "completion_tokens_details"), "audio_tokens"));
  parseOpenAiUsage(fields, gemini_compat, counts, out);
}

void parseOpenAiUsage(const OpenAiUsageFields& usage,
                      bool gemini_compat,
                      CountReader& counts,
                      Usage& out) {
  const bool responses_naming = usage.has_input_tokens || usage.has_output_tokens;
  const std::int64_t prompt =
      counts.readOr0(responses_naming ? usage.input_tokens : usage.prompt_tokens);
  const std::int64_t completion =
      counts.readOr0(responses_naming ? usage.output_tokens : usage.completion_tokens);
  const auto total = counts.read(usage.total_tokens);
  // Detail objects may be missing or null: each counter defaults to 0.
  const std::int64_t cached =
      counts.readOr0(responses_naming ? usage.input_cached : usage.prompt_cached);
  std::int64_t reasoning =
      counts.readOr0(responses_naming ? usage.output_reasoning : usage.completion_reasoning);
  // Audio counts exist in the Chat naming only (the Responses API reports none).
  const std::int64_t audio_in = responses_naming ? 0 : counts.readOr0(usage.prompt_audio);
  const std::int64_t audio_out = responses_naming ? 0 : counts.readOr0(usage.completion_audio);

  std::int64_t output = completion;
  if (gemini_compat && total && *total - prompt > completion) {
    output = *total - prompt;
    reasoning = std::max(reasoning, output - completion);
  }

  out.input_tokens = prompt;
  out.cached_input_tokens = cached;
  out.cache_write_tokens = 0;
  out.cache_write_5m_tokens = 0;
  out.cache_write_1h_tokens = 0;
  out.output_tokens = output;
  out.reasoning_tokens = reasoning;
  out.audio_input_tokens = audio_in;
  out.audio_output_tokens = audio_out;
  out.reported = true;
  if (cached > prompt || reasoning > output || audio_in > prompt || audio_out > output) {
    counts.flagAbsurd();
  }
}

}  // namespace spendgate::core
