#include "core/usage/openai_usage.hpp"

#include <algorithm>

namespace spendgate::core {

using json_fields::CountReader;
using json_fields::objectMember;

void parseOpenAiUsage(const boost::json::object& usage,
                      bool gemini_compat,
                      CountReader& counts,
                      Usage& out) {
  const bool responses_naming = usage.contains("input_tokens") || usage.contains("output_tokens");
  const char* input_key = responses_naming ? "input_tokens" : "prompt_tokens";
  const char* output_key = responses_naming ? "output_tokens" : "completion_tokens";
  const char* input_details = responses_naming ? "input_tokens_details" : "prompt_tokens_details";
  const char* output_details =
      responses_naming ? "output_tokens_details" : "completion_tokens_details";

  const std::int64_t prompt = counts.readOr0(&usage, input_key);
  const std::int64_t completion = counts.readOr0(&usage, output_key);
  const auto total = counts.read(&usage, "total_tokens");
  // Detail objects may be missing or null: each counter defaults to 0.
  const std::int64_t cached = counts.readOr0(objectMember(&usage, input_details), "cached_tokens");
  std::int64_t reasoning = counts.readOr0(objectMember(&usage, output_details), "reasoning_tokens");

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
  out.reported = true;
  if (cached > prompt || reasoning > output) counts.flagAbsurd();
}

}  // namespace spendgate::core
