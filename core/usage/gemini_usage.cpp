#include "core/usage/gemini_usage.hpp"

namespace spendgate::core {

void parseGeminiUsage(const boost::json::object& meta,
                      json_fields::CountReader& counts,
                      Usage& out) {
  const std::int64_t prompt = counts.readOr0(&meta, "promptTokenCount");
  const std::int64_t cached = counts.readOr0(&meta, "cachedContentTokenCount");
  const std::int64_t candidates = counts.readOr0(&meta, "candidatesTokenCount");
  const std::int64_t thoughts = counts.readOr0(&meta, "thoughtsTokenCount");
  const std::int64_t tool_prompt = counts.readOr0(&meta, "toolUsePromptTokenCount");

  out.input_tokens = prompt + tool_prompt;
  out.cached_input_tokens = cached;
  out.cache_write_tokens = 0;
  out.cache_write_5m_tokens = 0;
  out.cache_write_1h_tokens = 0;
  out.output_tokens = candidates + thoughts;
  out.reasoning_tokens = thoughts;
  out.reported = true;
  if (cached > prompt) counts.flagAbsurd();
}

}  // namespace spendgate::core
