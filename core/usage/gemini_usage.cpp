#include "core/usage/gemini_usage.hpp"

namespace spendgate::core {

namespace {

/** The tokenCount of the AUDIO entries of a `*TokensDetails` list ([{modality, tokenCount}]). */
std::int64_t audioTokens(const boost::json::object& meta,
                         std::string_view list,
                         json_fields::CountReader& counts) {
  const boost::json::array* details = json_fields::arrayMember(&meta, list);
  if (details == nullptr) return 0;
  std::int64_t total = 0;
  for (const boost::json::value& entry : *details) {
    const boost::json::object* o = json_fields::asObject(&entry);
    if (o == nullptr || json_fields::stringMember(o, "modality") != "AUDIO") continue;
    total += counts.readOr0(o, "tokenCount");
  }
  return total;
}

}  // namespace

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
  out.audio_input_tokens = audioTokens(meta, "promptTokensDetails", counts);
  out.audio_output_tokens = audioTokens(meta, "candidatesTokensDetails", counts);
  out.reported = true;
  if (cached > prompt || out.audio_input_tokens > out.input_tokens ||
      out.audio_output_tokens > candidates) {
    counts.flagAbsurd();
  }
}

}  // namespace spendgate::core
