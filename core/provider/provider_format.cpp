#include "core/provider/provider_format.hpp"

namespace spendgate::core {

std::string_view formatName(ProviderFormat format) {
  switch (format) {
    case ProviderFormat::OpenAI:
      return "openai";
    case ProviderFormat::Anthropic:
      return "anthropic";
    case ProviderFormat::Gemini:
      return "gemini";
    case ProviderFormat::Azure:
      return "azure";
  }
  return "openai";
}

std::optional<ProviderFormat> parseFormat(std::string_view name) {
  if (name == "openai") return ProviderFormat::OpenAI;
  if (name == "anthropic") return ProviderFormat::Anthropic;
  if (name == "gemini") return ProviderFormat::Gemini;
  if (name == "azure") return ProviderFormat::Azure;
  return std::nullopt;
}

}  // namespace spendgate::core
