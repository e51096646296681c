#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config_loader.hpp"
#include "tests/config/config_test_util.hpp"

namespace spendgate::config {
namespace {

using core::ProviderFormat;
using ::testing::ElementsAre;
using testing::errorsOf;
using testing::load;

TEST(Providers, KeyReplacesTheBuiltInSet) {
  auto r = load("providers:\n  anthropic: {}\n");
  ASSERT_THAT(r.errors, ElementsAre());
  ASSERT_EQ(r.config->providers.size(), 1u);
  const ProviderConfig& p = r.config->providers[0];
  EXPECT_EQ(p.name, "anthropic");
  EXPECT_EQ(p.format, ProviderFormat::Anthropic);
  EXPECT_EQ(p.base_url, "https://api.anthropic.com");
  EXPECT_EQ(p.upstream, (UpstreamUrl{true, "api.anthropic.com", 443, ""}));
  EXPECT_THAT(p.routes, ElementsAre("/v1/messages"));
  EXPECT_EQ(p.api_key_env, "ANTHROPIC_API_KEY");
}

TEST(Providers, GeminiDefaultRoutesIncludeUploads) {
  auto r = load("providers:\n  gemini: {}\n");
  ASSERT_THAT(r.errors, ElementsAre());
  EXPECT_THAT(r.config->providers.at(0).routes, ElementsAre("/v1beta/", "/upload/v1beta/"));
}

TEST(Providers, KeepYamlOrder) {
  auto r = load("providers:\n  gemini: {}\n  openai: {}\n  anthropic: {}\n");
  ASSERT_THAT(r.errors, ElementsAre());
  ASSERT_EQ(r.config->providers.size(), 3u);
  EXPECT_EQ(r.config->providers[0].name, "gemini");
  EXPECT_EQ(r.config->providers[1].name, "openai");
  EXPECT_EQ(r.config->providers[2].name, "anthropic");
}

TEST(Providers, NullValueMeansAllDefaults) {
  auto r = load("providers:\n  openai:\n");
  ASSERT_THAT(r.errors, ElementsAre());
  ASSERT_EQ(r.config->providers.size(), 1u);
  EXPECT_EQ(r.config->providers[0].api_key_env, "OPENAI_API_KEY");
}

TEST(Providers, CustomNameWithFormatGetsFormatDefaults) {
  auto r = load(R"(
providers:
  local-gw:
    format: openai
    base_url: "http://127.0.0.1:9000/openai/"
    routes: ["/v1/"]
    api_key_env: ""
)");
  ASSERT_THAT(r.errors, ElementsAre());
  const ProviderConfig& p = r.config->providers.at(0);
  EXPECT_EQ(p.name, "local-gw");
  EXPECT_EQ(p.format, ProviderFormat::OpenAI);
  EXPECT_EQ(p.base_url, "http://127.0.0.1:9000/openai/");
  EXPECT_EQ(p.upstream, (UpstreamUrl{false, "127.0.0.1", 9000, "/openai"}));
  EXPECT_EQ(p.api_key_env, "");
}

TEST(Providers, AzureWithDeployments) {
  auto r = load(R"(
providers:
  azure:
    base_url: "https://acme.openai.azure.com"
    deployments: { prod-4o: gpt-4o, cheap: gpt-4o-mini }
)");
  ASSERT_THAT(r.errors, ElementsAre());
  const ProviderConfig& p = r.config->providers.at(0);
  EXPECT_EQ(p.format, ProviderFormat::Azure);
  EXPECT_THAT(p.routes, ElementsAre("/openai/"));
  EXPECT_EQ(p.api_key_env, "AZURE_OPENAI_API_KEY");
  EXPECT_EQ(p.deployments,
            (std::map<std::string, std::string>{{"prod-4o", "gpt-4o"}, {"cheap", "gpt-4o-mini"}}));
}

TEST(Providers, AzureNeedsBaseUrl) {
  EXPECT_THAT(errorsOf("providers:\n  azure: {}\n"),
              ElementsAre("cfg.yaml:2:3: providers.azure: base_url is required for azure providers "
                          "(e.g. https://RESOURCE.openai.azure.com)"));
}

TEST(Providers, UnknownNameNeedsFormat) {
  EXPECT_THAT(errorsOf("providers:\n  mistral: { base_url: \"https://api.mistral.ai\" }\n"),
              ElementsAre("cfg.yaml:2:3: providers.mistral: format is required (openai, "
                          "anthropic, gemini, azure) unless the provider is named after one"));
}

TEST(Providers, BadFormatListsAllowedValues) {
  EXPECT_THAT(errorsOf("providers:\n  openai: { format: cohere }\n"),
              ElementsAre("cfg.yaml:2:21: providers.openai.format: unknown value 'cohere'; "
                          "expected one of: openai, anthropic, gemini, azure"));
}

TEST(Providers, EmptyProvidersIsAnError) {
  EXPECT_THAT(errorsOf("providers: {}\n"),
              ElementsAre("cfg.yaml:1:12: providers: no providers listed; remove the key to use "
                          "the built-in openai, anthropic and gemini"));
}

TEST(Providers, SameRouteTwiceIsAnError) {
  EXPECT_THAT(errorsOf(R"(providers:
  openai: {}
  gw:
    format: openai
    base_url: "https://gw.example.com"
    routes: ["/v2/", "/v1/"]
)"),
              ElementsAre("cfg.yaml:6:22: providers.gw.routes[1]: route '/v1/' is already served "
                          "by provider 'openai'"));
  EXPECT_THAT(errorsOf("providers:\n  openai: { routes: [\"/a/\", \"/a/\"] }\n"),
              ElementsAre("cfg.yaml:2:29: providers.openai.routes[1]: route '/a/' is listed "
                          "twice"));
}

TEST(Providers, DefaultRouteClashIsReportedAtTheName) {
  EXPECT_THAT(errorsOf("providers:\n  openai: {}\n  other: { format: openai }\n"),
              ElementsAre("cfg.yaml:3:3: providers.other: route '/v1/' is already served by "
                          "provider 'openai'"));
}

TEST(Providers, RoutesMustBePathPrefixes) {
  EXPECT_THAT(errorsOf("providers:\n  openai:\n    routes: [\"v1/\", \"/ok/\", \"/a?b\"]\n    "
                       "api_key_env: OPENAI_API_KEY\n"),
              ElementsAre("cfg.yaml:3:14: providers.openai.routes[0]: route 'v1/' must be a path "
                          "prefix starting with '/'",
                          "cfg.yaml:3:29: providers.openai.routes[2]: route '/a?b' must be a path "
                          "prefix starting with '/'"));
  EXPECT_THAT(errorsOf("providers:\n  openai: { routes: [] }\n"),
              ElementsAre("cfg.yaml:2:21: providers.openai.routes: must list at least one path "
                          "prefix, e.g. [\"/v1/\"]"));
}

TEST(Providers, BaseUrlErrors) {
  EXPECT_THAT(errorsOf("providers:\n  openai: { base_url: \"ftp://x\" }\n"),
              ElementsAre("cfg.yaml:2:23: providers.openai.base_url: invalid base_url 'ftp://x': "
                          "scheme must be http or https, not 'ftp'"));
  EXPECT_THAT(errorsOf("providers:\n  openai: { base_url: \"https://\" }\n"),
              ElementsAre("cfg.yaml:2:23: providers.openai.base_url: invalid base_url "
                          "'https://': URL has no host"));
  EXPECT_THAT(errorsOf("providers:\n  openai: { base_url: \"https://h/?x=1\" }\n"),
              ElementsAre("cfg.yaml:2:23: providers.openai.base_url: invalid base_url "
                          "'https://h/?x=1': a query string is not allowed"));
  // User and password in a base_url are refused without being repeated.
  EXPECT_THAT(errorsOf("providers:\n  openai: { base_url: \"https://u:SECRET@api.openai.com\" }\n"),
              ElementsAre("cfg.yaml:2:23: providers.openai.base_url: invalid base_url: credentials "
                          "in the URL are not allowed; use api_key_env"));
}

TEST(Providers, ApiKeyEnvMustNameAVariable) {
  EXPECT_THAT(errorsOf("providers:\n  openai:\n    api_key_env: sk-proj-0123456789abcdef\n"),
              ElementsAre("cfg.yaml:3:18: providers.openai.api_key_env: value starting 'sk-...' "
                          "looks like a secret; *_env keys name an environment variable that "
                          "holds it (e.g. OPENAI_API_KEY), never the secret itself"));
  EXPECT_THAT(errorsOf("providers:\n  openai: { api_key_env: OPENAI-KEY }\n"),
              ElementsAre("cfg.yaml:2:26: providers.openai.api_key_env: the value is not an "
                          "environment variable name (letters, digits and '_', not starting with "
                          "a digit): character 7 of 10 is not allowed"));
}

TEST(Providers, DeploymentsOnlyForAzure) {
  EXPECT_THAT(errorsOf("providers:\n  openai: { deployments: { a: b } }\n"),
              ElementsAre("cfg.yaml:2:26: providers.openai.deployments: only azure providers have "
                          "deployments"));
}

TEST(Providers, BadProviderName) {
  EXPECT_THAT(errorsOf("providers:\n  \"open ai\": { format: openai }\n"),
              ElementsAre("cfg.yaml:2:3: provider name 'open ai' may only contain letters, "
                          "digits, '-', '_' and '.'"));
}

TEST(Providers, ListInsteadOfMapping) {
  EXPECT_THAT(errorsOf("providers:\n  - openai\n"),
              ElementsAre("cfg.yaml:2:3: providers: expected a mapping, got a list"));
}

}  // namespace
}  // namespace spendgate::config
