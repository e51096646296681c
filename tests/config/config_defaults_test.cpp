#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "config/config_loader.hpp"
#include "tests/config/config_test_util.hpp"

namespace spendgate::config {
namespace {

using core::ProviderFormat;
using ::testing::ElementsAre;
using testing::fixturePath;
using testing::load;

// The SPEC's example lists gemini's routes as ["/v1beta/"]; the built-in default adds uploads.
void expectBuiltInProviders(const std::vector<ProviderConfig>& providers,
                            std::vector<std::string> gemini_routes = {"/v1beta/",
                                                                      "/upload/v1beta/"}) {
  ASSERT_EQ(providers.size(), 3u);
  EXPECT_EQ(providers[0].name, "openai");
  EXPECT_EQ(providers[0].format, ProviderFormat::OpenAI);
  EXPECT_EQ(providers[0].base_url, "https://api.openai.com");
  EXPECT_EQ(providers[0].upstream, (UpstreamUrl{true, "api.openai.com", 443, ""}));
  EXPECT_THAT(providers[0].routes, ElementsAre("/v1/"));
  EXPECT_EQ(providers[0].api_key_env, "OPENAI_API_KEY");
  EXPECT_EQ(providers[0].ca_file, "");
  EXPECT_EQ(providers[1].name, "anthropic");
  EXPECT_EQ(providers[1].format, ProviderFormat::Anthropic);
  EXPECT_EQ(providers[1].upstream, (UpstreamUrl{true, "api.anthropic.com", 443, ""}));
  EXPECT_THAT(providers[1].routes, ElementsAre("/v1/messages"));
  EXPECT_EQ(providers[1].api_key_env, "ANTHROPIC_API_KEY");
  EXPECT_EQ(providers[2].name, "gemini");
  EXPECT_EQ(providers[2].format, ProviderFormat::Gemini);
  EXPECT_EQ(providers[2].upstream,
            (UpstreamUrl{true, "generativelanguage.googleapis.com", 443, ""}));
  // google-genai's files.upload posts to /upload/v1beta/files
  EXPECT_EQ(providers[2].routes, gemini_routes);
  EXPECT_EQ(providers[2].api_key_env, "GEMINI_API_KEY");
}

TEST(DefaultConfig, MatchesSpecSection1) {
  const Config c = defaultConfig();
  EXPECT_EQ(c.server.listen, (ListenAddress{"127.0.0.1", 8080}));
  EXPECT_EQ(c.server.threads, 1);
  EXPECT_EQ(c.server.max_body_bytes, 10485760u);
  EXPECT_EQ(c.server.max_header_bytes, 65536u);
  EXPECT_EQ(c.server.idle_timeout, Millis(75000));
  EXPECT_EQ(c.server.first_byte_timeout, Millis(120000));
  EXPECT_EQ(c.server.request_timeout, Millis(600000));
  EXPECT_EQ(c.server.shutdown_grace, Millis(30000));
  EXPECT_EQ(c.server.max_buffered_bytes, 268435456u);
  EXPECT_EQ(c.admin.listen, (ListenAddress{"127.0.0.1", 8081}));
  EXPECT_EQ(c.admin.token_env, "SPENDGATE_ADMIN_TOKEN");
  expectBuiltInProviders(c.providers);
  EXPECT_TRUE(c.identity.virtual_keys.empty());
  EXPECT_TRUE(c.identity.passthrough);
  EXPECT_TRUE(c.identity.trust_headers);
  EXPECT_EQ(c.pricing.catalog, "builtin");
  EXPECT_EQ(c.pricing.unknown_model, PricingConfig::UnknownModel::Reject);
  EXPECT_TRUE(c.pricing.models.empty());
  EXPECT_EQ(c.store.kind, StoreConfig::Kind::Memory);
  EXPECT_EQ(c.store.redis.url, "redis://127.0.0.1:6379/0");
  EXPECT_EQ(c.store.redis.on_unavailable, RedisConfig::OnUnavailable::FailClosed);
  EXPECT_TRUE(c.store.redis.leases);
  EXPECT_EQ(c.ledger.path, "spendgate-ledger.jsonl");
  EXPECT_TRUE(c.budgets.empty());
  EXPECT_TRUE(c.rate_limits.empty());
  EXPECT_EQ(c.request_limits.max_cost_usd, std::nullopt);
  EXPECT_FALSE(c.emergency_stop.auto_stop.has_value());
  EXPECT_EQ(c.alerts.cooldown, Millis(3600000));
  EXPECT_TRUE(c.alerts.sinks.empty());
  EXPECT_EQ(c.logging.format, LoggingConfig::Format::Text);
  EXPECT_EQ(c.logging.level, "info");
  EXPECT_EQ(c.source, "");
}

TEST(LoadConfig, EmptyOrCommentOnlyTextGivesDefaults) {
  for (const char* text : {"", "\n", "# nothing here\n", "---\n", "~\n"}) {
    const LoadResult r = load(text);
    ASSERT_TRUE(r.config.has_value()) << text;
    EXPECT_TRUE(r.errors.empty());
    EXPECT_EQ(r.config->source, "cfg.yaml");
    expectBuiltInProviders(r.config->providers);
    EXPECT_EQ(r.config->server.listen.port, 8080);
  }
}

TEST(LoadConfig, EmptySectionsKeepDefaults) {
  const LoadResult r = load("server:\nadmin: {}\nbudgets: []\n");
  ASSERT_TRUE(r.config.has_value()) << r.errors.front();
  EXPECT_EQ(r.config->server.listen, (ListenAddress{"127.0.0.1", 8080}));
  EXPECT_EQ(r.config->providers.size(), 3u);
}

TEST(LoadConfig, SpecExampleLoadsWithEveryValue) {
  const LoadResult r = loadConfigFile(fixturePath("spec_example.yaml"));
  ASSERT_THAT(r.errors, ElementsAre());
  ASSERT_TRUE(r.config.has_value());
  const Config& c = *r.config;
  EXPECT_EQ(c.source, fixturePath("spec_example.yaml"));
  EXPECT_EQ(c.server.listen, (ListenAddress{"127.0.0.1", 8080}));
  EXPECT_EQ(c.server.threads, 1);
  EXPECT_EQ(c.server.request_timeout, Millis(600000));
  EXPECT_EQ(c.admin.token_env, "SPENDGATE_ADMIN_TOKEN");
  expectBuiltInProviders(c.providers, {"/v1beta/"});

  ASSERT_EQ(c.identity.virtual_keys.size(), 1u);
  const VirtualKeyConfig& key = c.identity.virtual_keys[0];
  EXPECT_EQ(key.id, "search-team");
  EXPECT_EQ(key.key_sha256, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
  EXPECT_EQ(key.team, "search");
  EXPECT_EQ(key.user, "alice");
  EXPECT_EQ(key.customer, "acme");
  EXPECT_EQ(key.agent, "crawler");

  ASSERT_EQ(c.pricing.models.count("ft:gpt-4o-mini:acme"), 1u);
  const ModelPriceConfig& price = c.pricing.models.at("ft:gpt-4o-mini:acme");
  EXPECT_DOUBLE_EQ(price.input, 0.30);
  EXPECT_DOUBLE_EQ(price.cached_input, 0.15);
  EXPECT_DOUBLE_EQ(price.output, 1.20);
  EXPECT_EQ(price.cache_write_5m, std::nullopt);
  EXPECT_EQ(price.max_output_tokens, 16384u);

  ASSERT_EQ(c.budgets.size(), 1u);
  EXPECT_EQ(c.budgets[0].name, "org-daily");
  EXPECT_EQ(c.budgets[0].scope, Scope::Global);
  EXPECT_EQ(c.budgets[0].match, (std::map<std::string, std::string>{{"model", "gpt-4o*"}}));
  EXPECT_EQ(c.budgets[0].period, Period::Day);
  EXPECT_DOUBLE_EQ(c.budgets[0].limit_usd, 500);
  EXPECT_EQ(c.budgets[0].mode, BudgetConfig::Mode::Hard);
  EXPECT_THAT(c.budgets[0].alert_at, ElementsAre(0.5, 0.8, 0.95, 1.0));

  ASSERT_EQ(c.rate_limits.size(), 1u);
  EXPECT_EQ(c.rate_limits[0].name, "per-key");
  EXPECT_EQ(c.rate_limits[0].scope, Scope::Key);
  EXPECT_EQ(c.rate_limits[0].requests_per_minute, 60u);
  EXPECT_EQ(c.rate_limits[0].tokens_per_minute, 90000u);
  EXPECT_EQ(c.rate_limits[0].concurrent, 10u);

  EXPECT_EQ(c.request_limits.max_cost_usd, 0.50);
  ASSERT_TRUE(c.emergency_stop.auto_stop.has_value());
  EXPECT_DOUBLE_EQ(c.emergency_stop.auto_stop->spend_usd, 500);
  EXPECT_EQ(c.emergency_stop.auto_stop->period, Period::Day);
  EXPECT_EQ(c.emergency_stop.auto_stop->hold, Millis(3600000));

  EXPECT_EQ(c.alerts.cooldown, Millis(3600000));
  ASSERT_EQ(c.alerts.sinks.size(), 3u);
  EXPECT_EQ(c.alerts.sinks[0].type, AlertSinkConfig::Type::Slack);
  EXPECT_EQ(c.alerts.sinks[0].url_env, "SLACK_WEBHOOK_URL");
  EXPECT_EQ(c.alerts.sinks[0].min_level, AlertLevel::Warning);
  EXPECT_EQ(c.alerts.sinks[1].type, AlertSinkConfig::Type::Webhook);
  EXPECT_EQ(c.alerts.sinks[1].url, "http://127.0.0.1:9000/hook");
  EXPECT_EQ(c.alerts.sinks[1].min_level, AlertLevel::Info);
  EXPECT_EQ(c.alerts.sinks[2].type, AlertSinkConfig::Type::Email);
  EXPECT_EQ(c.alerts.sinks[2].smtp_url, "smtp://127.0.0.1:25");
  EXPECT_EQ(c.alerts.sinks[2].from, "spendgate@example.com");
  EXPECT_THAT(c.alerts.sinks[2].to, ElementsAre("ops@example.com"));
}

TEST(LoadConfig, ReadsEveryServerKeyAndExtensions) {
  const LoadResult r = load(R"(
server:
  listen: "[::1]:0"
  threads: 4
  max_body_bytes: 1024
  max_header_bytes: 8192
  idle_timeout: 250ms
  first_byte_timeout: 5s
  request_timeout: 2m
  shutdown_grace: 0s
  max_buffered_bytes: 0
admin:
  listen: "0.0.0.0:9901"
  token_env: MY_ADMIN_TOKEN
logging: { format: json, level: debug }
ledger: { path: /var/lib/spendgate/ledger.jsonl }
store:
  kind: redis
  redis: { url: "redis://cache.internal:6380/2", on_unavailable: fail_open, leases: false }
)");
  ASSERT_THAT(r.errors, ElementsAre());
  const Config& c = *r.config;
  EXPECT_EQ(c.server.listen, (ListenAddress{"::1", 0}));
  EXPECT_EQ(c.server.threads, 4);
  EXPECT_EQ(c.server.max_body_bytes, 1024u);
  EXPECT_EQ(c.server.max_header_bytes, 8192u);
  EXPECT_EQ(c.server.idle_timeout, Millis(250));
  EXPECT_EQ(c.server.first_byte_timeout, Millis(5000));
  EXPECT_EQ(c.server.request_timeout, Millis(120000));
  EXPECT_EQ(c.server.shutdown_grace, Millis(0));
  EXPECT_EQ(c.server.max_buffered_bytes, 0u);
  EXPECT_EQ(c.admin.listen, (ListenAddress{"0.0.0.0", 9901}));
  EXPECT_EQ(c.admin.token_env, "MY_ADMIN_TOKEN");
  EXPECT_EQ(c.logging.format, LoggingConfig::Format::Json);
  EXPECT_EQ(c.logging.level, "debug");
  EXPECT_EQ(c.ledger.path, "/var/lib/spendgate/ledger.jsonl");
  EXPECT_EQ(c.store.kind, StoreConfig::Kind::Redis);
  EXPECT_EQ(c.store.redis.url, "redis://cache.internal:6380/2");
  EXPECT_EQ(c.store.redis.on_unavailable, RedisConfig::OnUnavailable::FailOpen);
  EXPECT_FALSE(c.store.redis.leases);
}

TEST(LoadConfig, ThreadsZeroMeansOnePerCore) {
  const LoadResult r = load("server: { threads: 0 }\n");
  ASSERT_TRUE(r.config.has_value());
  const int expected = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  EXPECT_EQ(r.config->server.threads, expected);
  EXPECT_GE(r.config->server.threads, 1);
}

TEST(LoadConfig, PricingUnknownModelForms) {
  auto allow = load("pricing: { unknown_model: allow }\n");
  ASSERT_TRUE(allow.config.has_value());
  EXPECT_EQ(allow.config->pricing.unknown_model, PricingConfig::UnknownModel::Allow);

  auto price = load("pricing:\n  unknown_model: { price: { input: 2.5, output: 10 } }\n");
  ASSERT_THAT(price.errors, ElementsAre());
  EXPECT_EQ(price.config->pricing.unknown_model, PricingConfig::UnknownModel::Price);
  EXPECT_DOUBLE_EQ(price.config->pricing.unknown_input, 2.5);
  EXPECT_DOUBLE_EQ(price.config->pricing.unknown_output, 10);
}

TEST(LoadConfig, ModelPriceDefaultsAndCacheWrites) {
  auto r = load(R"(
pricing:
  models:
    claude-x: { input: 3, output: 15, cache_write_5m: 3.75, cache_write_1h: 6 }
)");
  ASSERT_THAT(r.errors, ElementsAre());
  const ModelPriceConfig& p = r.config->pricing.models.at("claude-x");
  EXPECT_DOUBLE_EQ(p.cached_input, 3);  // defaults to input
  EXPECT_EQ(p.cache_write_5m, 3.75);
  EXPECT_EQ(p.cache_write_1h, 6.0);
  EXPECT_EQ(p.max_output_tokens, 0u);
  EXPECT_EQ(p.input_audio, std::nullopt);  // audio at the text rates
  EXPECT_EQ(p.output_audio, std::nullopt);
}

TEST(LoadConfig, ModelPriceAudioRates) {
  auto r = load(R"(
pricing:
  models:
    my-voice: { input: 2.50, output: 10, input_audio: 40, output_audio: 80.5 }
)");
  ASSERT_THAT(r.errors, ElementsAre());
  const ModelPriceConfig& p = r.config->pricing.models.at("my-voice");
  EXPECT_EQ(p.input_audio, 40.0);
  EXPECT_EQ(p.output_audio, 80.5);
}

TEST(LoadConfig, BudgetDefaultsAndAlertAtSorted) {
  auto r = load(R"(
budgets:
  - { name: a, limit_usd: 10 }
  - name: b
    scope: key
    match: { key: search-team, provider: "open*" }
    period: month
    limit_usd: 0.25
    mode: soft
    alert_at: [1.0, 0.5, 2, 0.5]
)");
  ASSERT_THAT(r.errors, ElementsAre());
  const auto& b = r.config->budgets;
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0].scope, Scope::Global);
  EXPECT_EQ(b[0].period, Period::Day);
  EXPECT_EQ(b[0].mode, BudgetConfig::Mode::Hard);
  EXPECT_THAT(b[0].alert_at, ElementsAre(0.5, 0.8, 0.95, 1.0));
  EXPECT_EQ(b[1].scope, Scope::Key);
  EXPECT_EQ(b[1].match,
            (std::map<std::string, std::string>{{"key", "search-team"}, {"provider", "open*"}}));
  EXPECT_EQ(b[1].period, Period::Month);
  EXPECT_DOUBLE_EQ(b[1].limit_usd, 0.25);
  EXPECT_EQ(b[1].mode, BudgetConfig::Mode::Soft);
  EXPECT_THAT(b[1].alert_at, ElementsAre(0.5, 1.0, 2.0));
}

TEST(LoadConfig, EmergencyStopAutoDefaults) {
  auto r = load("emergency_stop: { auto: { spend_usd: 100 } }\n");
  ASSERT_THAT(r.errors, ElementsAre());
  ASSERT_TRUE(r.config->emergency_stop.auto_stop.has_value());
  EXPECT_EQ(r.config->emergency_stop.auto_stop->period, Period::Day);
  EXPECT_EQ(r.config->emergency_stop.auto_stop->hold, Millis(3600000));
}

TEST(EnumNames, SpellLikeYaml) {
  EXPECT_EQ(scopeName(Scope::Customer), "customer");
  EXPECT_EQ(periodName(Period::Total), "total");
  EXPECT_EQ(alertLevelName(AlertLevel::Exceeded), "exceeded");
  EXPECT_EQ(budgetModeName(BudgetConfig::Mode::Soft), "soft");
  EXPECT_THAT(dimensionNames(),
              ElementsAre("provider", "model", "key", "user", "team", "customer", "agent"));
}

}  // namespace
}  // namespace spendgate::config
