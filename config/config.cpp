#include "config/config.hpp"

namespace spendgate::config {

namespace {

struct FormatDefaults {
  std::string_view base_url;
  std::vector<std::string_view> routes;
  std::string_view api_key_env;
};

FormatDefaults defaultsFor(core::ProviderFormat format) {
  switch (format) {
    case core::ProviderFormat::OpenAI:
      return {"https://api.openai.com", {"/v1/"}, "OPENAI_API_KEY"};
    case core::ProviderFormat::Anthropic:
      return {"https://api.anthropic.com", {"/v1/messages"}, "ANTHROPIC_API_KEY"};
    case core::ProviderFormat::Gemini:
      // google-genai uploads files (files.upload) to /upload/v1beta/files: without that route a
      // Gemini client could not just change its base URL.
      return {"https://generativelanguage.googleapis.com",
              {"/v1beta/", "/upload/v1beta/"},
              "GEMINI_API_KEY"};
    case core::ProviderFormat::Azure:
      return {"", {"/openai/"}, "AZURE_OPENAI_API_KEY"};
  }
  return {};
}

}  // namespace

ProviderConfig defaultProvider(std::string name, core::ProviderFormat format) {
  const FormatDefaults defaults = defaultsFor(format);
  ProviderConfig provider;
  provider.name = std::move(name);
  provider.format = format;
  provider.base_url = std::string(defaults.base_url);
  if (auto upstream = parseUpstreamUrl(provider.base_url)) provider.upstream = *upstream;
  provider.routes.assign(defaults.routes.begin(), defaults.routes.end());
  provider.api_key_env = std::string(defaults.api_key_env);
  return provider;
}

Config defaultConfig() {
  Config config;
  config.providers = {
      defaultProvider("openai", core::ProviderFormat::OpenAI),
      defaultProvider("anthropic", core::ProviderFormat::Anthropic),
      defaultProvider("gemini", core::ProviderFormat::Gemini),
  };
  return config;
}

std::string_view scopeName(Scope scope) {
  switch (scope) {
    case Scope::Global:
      return "global";
    case Scope::Provider:
      return "provider";
    case Scope::Model:
      return "model";
    case Scope::Key:
      return "key";
    case Scope::User:
      return "user";
    case Scope::Team:
      return "team";
    case Scope::Customer:
      return "customer";
    case Scope::Agent:
      return "agent";
  }
  return "global";
}

std::string_view periodName(Period period) {
  switch (period) {
    case Period::Minute:
      return "minute";
    case Period::Hour:
      return "hour";
    case Period::Day:
      return "day";
    case Period::Week:
      return "week";
    case Period::Month:
      return "month";
    case Period::Total:
      return "total";
  }
  return "day";
}

std::string_view alertLevelName(AlertLevel level) {
  switch (level) {
    case AlertLevel::Info:
      return "info";
    case AlertLevel::Warning:
      return "warning";
    case AlertLevel::Critical:
      return "critical";
    case AlertLevel::Exceeded:
      return "exceeded";
  }
  return "info";
}

std::string_view budgetModeName(BudgetConfig::Mode mode) {
  return mode == BudgetConfig::Mode::Soft ? "soft" : "hard";
}

const std::vector<std::string_view>& dimensionNames() {
  static const std::vector<std::string_view> kNames = {"provider", "model",    "key",  "user",
                                                       "team",     "customer", "agent"};
  return kNames;
}

}  // namespace spendgate::config
