#pragma once

#include <optional>
#include <string_view>

namespace spendgate::core {

/** The wire format a provider speaks: decides error bodies, auth headers and usage parsing. */
enum class ProviderFormat { OpenAI, Anthropic, Gemini, Azure };

/** @return the YAML spelling ("openai", "anthropic", "gemini", "azure"). */
std::string_view formatName(ProviderFormat format);

/** @return the format for a YAML spelling, or nullopt if unknown. */
std::optional<ProviderFormat> parseFormat(std::string_view name);

}  // namespace spendgate::core
