#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config_loader.hpp"
#include "tests/config/config_test_util.hpp"

namespace spendgate::config {
namespace {

using ::testing::ElementsAre;
using testing::errorsOf;
using ::testing::HasSubstr;

TEST(ConfigErrors, ErrorsMeanNoConfig) {
  const LoadResult r = loadConfigString("server: { threads: -1 }\n", "x.yaml");
  EXPECT_FALSE(r.config.has_value());
  EXPECT_EQ(r.errors.size(), 1u);
}

TEST(ConfigErrors, UnknownKeyWithSuggestion) {
  EXPECT_THAT(errorsOf("server:\n  threads: 2\n  listn: \"127.0.0.1:1\"\n"),
              ElementsAre("cfg.yaml:3:3: unknown key 'listn' in server (did you mean 'listen'?)"));
}

TEST(ConfigErrors, UnknownKeyWithoutSuggestion) {
  EXPECT_THAT(errorsOf("budgets:\n  - { name: a, limit_usd: 1, colour: red }\n"),
              ElementsAre("cfg.yaml:2:30: unknown key 'colour' in budgets[0]"));
}

TEST(ConfigErrors, UnknownTopLevelKey) {
  EXPECT_THAT(errorsOf("budget:\n  - name: a\n"),
              ElementsAre("cfg.yaml:1:1: unknown key 'budget' at top level (did you mean "
                          "'budgets'?)"));
}

// Audit 14: a 50 MB scalar was copied whole into its error, NUL and invalid UTF-8 bytes raw.
TEST(ConfigErrors, AQuotedValueIsCutAndMadePrintable) {
  const auto errors = errorsOf("server:\n  listen: \"" + std::string(5000, 'x') + "\"\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_LT(errors[0].size(), 600u) << errors[0];
  EXPECT_THAT(errors[0], HasSubstr("cfg.yaml:2:11: server.listen: "));
  EXPECT_THAT(errors[0], HasSubstr(" bytes more)"));

  const auto odd = errorsOf("server:\n  \"a\\x01b\": 1\n  c\xff: 2\n");
  ASSERT_EQ(odd.size(), 2u);
  EXPECT_THAT(odd[0], HasSubstr("unknown key 'a?b'")) << odd[0];
  EXPECT_THAT(odd[1], HasSubstr("unknown key 'c\xef\xbf\xbd'")) << odd[1];
}

TEST(ConfigErrors, DuplicateKey) {
  EXPECT_THAT(errorsOf("server:\n  threads: 1\n  threads: 2\n"),
              ElementsAre("cfg.yaml:3:3: duplicate key 'threads' in server (first at line 2)"));
}

TEST(ConfigErrors, TopLevelMustBeAMapping) {
  EXPECT_THAT(errorsOf("- a\n- b\n"),
              ElementsAre("cfg.yaml:1:1: the top level must be a mapping (server:, providers:, "
                          "budgets:, ...)"));
  EXPECT_THAT(errorsOf("hello\n"),
              ElementsAre("cfg.yaml:1:1: the top level must be a mapping (server:, providers:, "
                          "budgets:, ...)"));
}

TEST(ConfigErrors, SectionOfWrongType) {
  EXPECT_THAT(errorsOf("server: 8080\n"),
              ElementsAre("cfg.yaml:1:9: server: expected a mapping, got '8080'"));
  EXPECT_THAT(errorsOf("budgets: { name: a }\n"),
              ElementsAre("cfg.yaml:1:10: budgets: expected a list, got a mapping"));
}

TEST(ConfigErrors, WrongScalarTypes) {
  EXPECT_THAT(errorsOf(R"(server:
  threads: two
  max_body_bytes: 1.5
  listen: [a]
identity:
  passthrough: maybe
request_limits:
  max_cost_usd: lots
)"),
              ElementsAre("cfg.yaml:2:12: server.threads: expected a whole number, got 'two'",
                          "cfg.yaml:3:19: server.max_body_bytes: expected a whole number, got "
                          "'1.5'",
                          "cfg.yaml:4:11: server.listen: expected a string, got a list",
                          "cfg.yaml:6:16: identity.passthrough: expected true or false, got "
                          "'maybe'",
                          "cfg.yaml:8:17: request_limits.max_cost_usd: expected a number, got "
                          "'lots'"));
}

TEST(ConfigErrors, MissingScalarValueIsReportedAtTheKey) {
  EXPECT_THAT(errorsOf("server:\n  listen:\n  threads: 1\n"),
              ElementsAre("cfg.yaml:2:3: server.listen: missing value"));
}

TEST(ConfigErrors, IntegerRanges) {
  EXPECT_THAT(errorsOf("server:\n  threads: -1\n  max_body_bytes: 0\n  max_header_bytes: "
                       "99999999999999999999\n"),
              ElementsAre("cfg.yaml:2:12: server.threads: must be between 0 and 1024, got -1",
                          "cfg.yaml:3:19: server.max_body_bytes: must be at least 1, got 0",
                          "cfg.yaml:4:21: server.max_header_bytes: '99999999999999999999' is "
                          "too large"));
}

TEST(ConfigErrors, BufferAllowanceIsACount) {
  EXPECT_THAT(errorsOf("server:\n  max_buffered_bytes: -1\n"),
              ElementsAre("cfg.yaml:2:23: server.max_buffered_bytes: must be at least 0, got -1"));
  EXPECT_THAT(errorsOf("server:\n  max_buffered_bytes: 1.5\n"), ::testing::SizeIs(1));
  EXPECT_THAT(errorsOf("server:\n  max_buffered_bytes: 0\n"), ElementsAre());
}

TEST(ConfigErrors, HeaderLimitAboveWhatTheParserHolds) {
  // A field of 64 KiB or more cannot be held by the head's parser (audit 14 H3): the limit stops
  // at 64 KiB, so an oversized header is always a 431.
  EXPECT_THAT(errorsOf("server:\n  max_header_bytes: 65537\n"),
              ElementsAre("cfg.yaml:2:21: server.max_header_bytes: must be between 1 and 65536, "
                          "got 65537"));
  EXPECT_THAT(errorsOf("server:\n  max_header_bytes: 65536\n"), ElementsAre());
}

TEST(ConfigErrors, BadEnumListsAllowedValues) {
  EXPECT_THAT(errorsOf("budgets:\n  - { name: a, limit_usd: 1, scope: org, period: daily, mode: "
                       "strict }\n"),
              ElementsAre("cfg.yaml:2:37: budgets[0].scope: unknown value 'org'; expected one "
                          "of: global, provider, model, key, user, team, customer, agent",
                          "cfg.yaml:2:50: budgets[0].period: unknown value 'daily'; expected one "
                          "of: minute, hour, day, week, month, total",
                          "cfg.yaml:2:63: budgets[0].mode: unknown value 'strict'; expected one "
                          "of: hard, soft"));
  EXPECT_THAT(errorsOf("store: { kind: etcd }\nlogging: { format: xml, level: verbose }\n"),
              ElementsAre("cfg.yaml:1:16: store.kind: unknown value 'etcd'; expected one of: "
                          "memory, redis",
                          "cfg.yaml:2:20: logging.format: unknown value 'xml'; expected one of: "
                          "text, json",
                          "cfg.yaml:2:32: logging.level: unknown value 'verbose'; expected one "
                          "of: trace, debug, info, warn, error, off"));
  EXPECT_THAT(errorsOf("store:\n  redis: { on_unavailable: open }\n"),
              ElementsAre("cfg.yaml:2:28: store.redis.on_unavailable: unknown value 'open'; "
                          "expected one of: fail_closed, fail_open"));
}

TEST(ConfigErrors, BadDurations) {
  EXPECT_THAT(errorsOf("server:\n  idle_timeout: 75\n  request_timeout: 0s\nalerts: { cooldown: "
                       "-1h }\n"),
              ElementsAre("cfg.yaml:2:17: server.idle_timeout: invalid duration '75'; use a "
                          "whole number and a unit: 250ms, 30s, 5m, 1h, 7d (at most 36500d)",
                          "cfg.yaml:3:20: server.request_timeout: must be longer than 0s",
                          "cfg.yaml:4:21: alerts.cooldown: invalid duration '-1h'; use a whole "
                          "number and a unit: 250ms, 30s, 5m, 1h, 7d (at most 36500d)"));
  // Longer than 100 years: now + it would pass the clock's end (2262) and wrap into the past.
  EXPECT_THAT(errorsOf("server: { request_timeout: 99999d }\n"
                       "emergency_stop: { auto: { spend_usd: 1, hold: 36501d } }\n"),
              ElementsAre("cfg.yaml:1:28: server.request_timeout: invalid duration '99999d'; use "
                          "a whole number and a unit: 250ms, 30s, 5m, 1h, 7d (at most 36500d)",
                          "cfg.yaml:2:47: emergency_stop.auto.hold: invalid duration '36501d'; "
                          "use a whole number and a unit: 250ms, 30s, 5m, 1h, 7d (at most "
                          "36500d)"));
}

TEST(ConfigErrors, BadListenAddresses) {
  EXPECT_THAT(errorsOf("server: { listen: \"::1:8080\" }\nadmin: { listen: \"localhost\" }\n"),
              ElementsAre("cfg.yaml:1:19: server.listen: invalid listen address '::1:8080': IPv6 "
                          "addresses need brackets, e.g. [::1]:8080",
                          "cfg.yaml:2:18: admin.listen: invalid listen address 'localhost': "
                          "expected HOST:PORT, e.g. 127.0.0.1:8080"));
}

TEST(ConfigErrors, AdminAndServerOnTheSamePort) {
  EXPECT_THAT(errorsOf("server: { listen: \"0.0.0.0:9000\" }\nadmin: { listen: "
                       "\"127.0.0.1:9000\" }\n"),
              ElementsAre("cfg.yaml:2:18: admin.listen 127.0.0.1:9000 conflicts with "
                          "server.listen 0.0.0.0:9000"));
  EXPECT_THAT(errorsOf("server: { listen: \"127.0.0.1:0\" }\nadmin: { listen: \"127.0.0.1:0\" "
                       "}\n"),
              ElementsAre());
}

TEST(ConfigErrors, AdminTokenRequiredOffLoopback) {
  EXPECT_THAT(errorsOf("admin: { listen: \"0.0.0.0:8081\", token_env: \"\" }\n"),
              ElementsAre("cfg.yaml:1:45: admin.token_env: must name the admin token variable "
                          "when admin.listen (0.0.0.0:8081) is not a loopback address"));
  EXPECT_THAT(errorsOf("admin: { listen: \"[::1]:8081\", token_env: \"\" }\n"), ElementsAre());
}

TEST(ConfigErrors, NonPositiveMoney) {
  EXPECT_THAT(errorsOf(R"(budgets:
  - { name: a, limit_usd: 0 }
  - { name: b, limit_usd: -5 }
  - { name: c }
request_limits: { max_cost_usd: .nan }
emergency_stop: { auto: { period: day } }
)"),
              ElementsAre("cfg.yaml:2:27: budgets[0].limit_usd: must be greater than 0",
                          "cfg.yaml:3:27: budgets[1].limit_usd: must not be negative, got -5",
                          "cfg.yaml:4:5: budgets[2]: limit_usd is required",
                          "cfg.yaml:5:33: request_limits.max_cost_usd: expected a number, got "
                          "'.nan'",
                          "cfg.yaml:6:25: emergency_stop.auto: spend_usd is required"));
}

TEST(ConfigErrors, AlertAtRange) {
  EXPECT_THAT(errorsOf("budgets:\n  - { name: a, limit_usd: 1, alert_at: [0, 0.5, 10, 10.5] "
                       "}\n"),
              ElementsAre("cfg.yaml:2:41: budgets[0].alert_at[0]: alert_at values are fractions "
                          "of limit_usd in (0, 10], got 0",
                          "cfg.yaml:2:53: budgets[0].alert_at[3]: alert_at values are fractions "
                          "of limit_usd in (0, 10], got 10.5"));
}

TEST(ConfigErrors, DuplicateAndMissingNames) {
  EXPECT_THAT(errorsOf(R"(budgets:
  - { name: daily, limit_usd: 1 }
  - { name: daily, limit_usd: 2 }
rate_limits:
  - { name: rl, concurrent: 1 }
  - { name: rl, concurrent: 2 }
  - { concurrent: 3 }
)"),
              ElementsAre("cfg.yaml:3:13: budgets[1].name: duplicate budget name 'daily' (first "
                          "at line 2)",
                          "cfg.yaml:6:13: rate_limits[1].name: duplicate rate limit name 'rl' "
                          "(first at line 5)",
                          "cfg.yaml:7:5: rate_limits[2]: name is required"));
}

TEST(ConfigErrors, RateLimitThatLimitsNothing) {
  EXPECT_THAT(errorsOf("rate_limits:\n  - { name: x, scope: key }\n"),
              ElementsAre("cfg.yaml:2:5: rate_limits[0]: sets none of requests_per_minute, "
                          "tokens_per_minute, concurrent"));
  EXPECT_THAT(errorsOf("rate_limits:\n  - { name: x, requests_per_minute: -1 }\n"),
              ElementsAre("cfg.yaml:2:37: rate_limits[0].requests_per_minute: must be at least "
                          "0, got -1"));
}

TEST(ConfigErrors, UnknownMatchDimension) {
  EXPECT_THAT(errorsOf("budgets:\n  - { name: a, limit_usd: 1, match: { modle: x, team: \"\" } "
                       "}\n"),
              ElementsAre("cfg.yaml:2:39: unknown match dimension 'modle' in budgets[0].match; "
                          "expected one of: provider, model, key, user, team, customer, agent",
                          "cfg.yaml:2:55: budgets[0].match.team: must not be empty"));
}

TEST(ConfigErrors, MalformedMatchGlobIsReportedAtThePattern) {
  EXPECT_THAT(
      errorsOf(
          "budgets:\n  - { name: a, limit_usd: 1, match: { model: \"gpt-[4\" } }\n"
          "rate_limits:\n  - { name: r, requests_per_minute: 1, match: { user: \"[z-a]*\" } }\n"),
      ElementsAre("cfg.yaml:2:46: budgets[0].match.model: unclosed '[' at character 5 of glob "
                  "\"gpt-[4\" (a class needs a closing ']'; a class cannot be empty)",
                  "cfg.yaml:4:55: rate_limits[0].match.user: reversed range 'z-a' in glob "
                  "\"[z-a]*\""));
  // Well-formed classes load.
  EXPECT_THAT(
      errorsOf("budgets:\n  - { name: a, limit_usd: 1, match: { model: \"gpt-4o-[0-9]*\" } }\n"),
      ElementsAre());
}

TEST(ConfigErrors, LiteralMatchProviderMustNameAConfiguredProvider) {
  // A typo would make the budget match nothing: the same as no budget at all.
  EXPECT_THAT(
      errorsOf(
          "budgets:\n  - { name: a, limit_usd: 1, match: { provider: opneai } }\n"
          "rate_limits:\n  - { name: r, requests_per_minute: 1, match: { provider: gemni } }\n"),
      ElementsAre("cfg.yaml:2:49: budgets[0].match.provider: no provider named 'opneai' "
                  "(providers: openai, anthropic, gemini)",
                  "cfg.yaml:4:59: rate_limits[0].match.provider: no provider named 'gemni' "
                  "(providers: openai, anthropic, gemini)"));
  // Configured names, globs (even ones matching nothing) and a `providers:` that replaces the
  // built-in set all load.
  EXPECT_THAT(errorsOf("budgets:\n  - { name: a, limit_usd: 1, match: { provider: anthropic } }\n"
                       "  - { name: b, limit_usd: 1, match: { provider: \"azure*\" } }\n"),
              ElementsAre());
  EXPECT_THAT(errorsOf("providers:\n  corp: { format: openai, base_url: \"http://127.0.0.1:1\" }\n"
                       "budgets:\n  - { name: a, limit_usd: 1, match: { provider: corp } }\n"
                       "  - { name: b, limit_usd: 1, match: { provider: openai } }\n"),
              ElementsAre("cfg.yaml:5:49: budgets[1].match.provider: no provider named 'openai' "
                          "(providers: corp)"));
}

TEST(ConfigErrors, LiteralMatchKeyMustNameAVirtualKeyWithoutPassthrough) {
  const std::string keys =
      "  virtual_keys:\n    - { id: search-team, key_sha256: \"" + std::string(64, 'a') + "\" }\n";
  const std::string budgets =
      "budgets:\n  - { name: a, limit_usd: 1, match: { key: serach-team } }\n"
      "  - { name: b, limit_usd: 1, match: { key: search-team } }\n"
      "  - { name: c, limit_usd: 1, match: { key: \"search-*\" } }\n"
      "rate_limits:\n  - { name: r, requests_per_minute: 1, match: { key: \"fp_0123\" } }\n";
  EXPECT_THAT(errorsOf("identity:\n  passthrough: false\n" + keys + budgets),
              ElementsAre("cfg.yaml:6:44: budgets[0].match.key: no virtual key with id "
                          "'serach-team' (passthrough is off, so no other key gets through)",
                          "cfg.yaml:10:54: rate_limits[0].match.key: no virtual key with id "
                          "'fp_0123' (passthrough is off, so no other key gets through)"));
  // With passthrough a key can also be a fingerprint (fp_...) or "anonymous": an open set.
  EXPECT_THAT(errorsOf("identity:\n" + keys + budgets), ElementsAre());
  // The other dimensions are open sets too.
  EXPECT_THAT(errorsOf("identity: { passthrough: false }\n"
                       "budgets:\n  - { name: a, limit_usd: 1, match: { model: x, user: y, team: "
                       "z, customer: w, agent: v } }\n"),
              ElementsAre());
}

TEST(ConfigErrors, VirtualKeys) {
  const std::string hash(64, 'a');
  EXPECT_THAT(errorsOf("identity:\n  virtual_keys:\n"
                       "    - { id: a, key_sha256: \"" +
                       hash +
                       "\" }\n"
                       "    - { id: a, key_sha256: \"abc\" }\n"
                       "    - { id: b, key_sha256: \"" +
                       std::string(64, 'A') +
                       "\" }\n"
                       "    - { key_sha256: \"" +
                       std::string(63, 'b') + "g\" }\n"),
              ElementsAre("cfg.yaml:4:13: identity.virtual_keys[1].id: duplicate virtual key id "
                          "'a' (first at line 3)",
                          "cfg.yaml:4:28: identity.virtual_keys[1].key_sha256: must be 64 hex "
                          "characters (the SHA-256 of the key; `spendgate key new` prints it)",
                          "cfg.yaml:5:28: identity.virtual_keys[2].key_sha256: same key_sha256 "
                          "as virtual key 'a'",
                          "cfg.yaml:6:7: identity.virtual_keys[3]: id is required",
                          "cfg.yaml:6:21: identity.virtual_keys[3].key_sha256: must be 64 hex "
                          "characters (the SHA-256 of the key; `spendgate key new` prints it)"));
}

TEST(ConfigErrors, VirtualKeyHashIsLowerCased) {
  const auto r = testing::load("identity:\n  virtual_keys: [{ id: a, key_sha256: \"" +
                               std::string(64, 'F') + "\" }]\n");
  ASSERT_THAT(r.errors, ElementsAre());
  EXPECT_EQ(r.config->identity.virtual_keys.at(0).key_sha256, std::string(64, 'f'));
}

TEST(ConfigErrors, AlertSinks) {
  EXPECT_THAT(
      errorsOf(R"(alerts:
  sinks:
    - { type: slack }
    - { type: slack, url: "https://hooks.slack.com/x", url_env: SLACK_URL }
    - { type: webhook, url: "ftp://x", from: "a@b" }
    - { type: email, smtp_url: "http://x", from: nobody, to: [] }
    - { type: pager }
    - { url_env: "https://hooks.slack.com/services/T/B/c" }
    - { type: slack, url_env: "xoxb-123456", min_level: loud }
    - { type: webhook, url: "http://127.0.0.1:99999/hook" }
)"),
      ElementsAre("cfg.yaml:3:7: alerts.sinks[0]: set exactly one of url and url_env",
                  "cfg.yaml:4:65: alerts.sinks[1].url_env: set exactly one of url and url_env",
                  "cfg.yaml:5:29: alerts.sinks[2].url: the URL must start with one of "
                  "http://, https://",
                  "cfg.yaml:5:46: alerts.sinks[2].from: only applies to email sinks, not webhook",
                  "cfg.yaml:6:32: alerts.sinks[3].smtp_url: the URL must start with one of "
                  "smtp://, smtps://",
                  "cfg.yaml:6:50: alerts.sinks[3].from: 'nobody' is not an email address",
                  "cfg.yaml:6:62: alerts.sinks[3].to: must list at least one address",
                  "cfg.yaml:7:15: alerts.sinks[4].type: unknown value 'pager'; expected one of: "
                  "slack, webhook, email",
                  "cfg.yaml:8:7: alerts.sinks[5]: type is required (slack, webhook, email)",
                  "cfg.yaml:9:31: alerts.sinks[6].url_env: value starting 'xox...' looks like a "
                  "secret; *_env keys name an environment variable that holds it (e.g. "
                  "OPENAI_API_KEY), never the secret itself",
                  "cfg.yaml:9:57: alerts.sinks[6].min_level: unknown value 'loud'; expected one "
                  "of: info, warning, critical, exceeded",
                  "cfg.yaml:10:29: alerts.sinks[7].url: the URL has an invalid port '99999' "
                  "(1-65535)"));
}

// An *_env value that is not a variable name may be the secret itself (a webhook URL, a token):
// the error keeps its place and never repeats the value.
TEST(ConfigErrors, EnvValuesThatAreNotNamesAreNotRepeated) {
  const auto errors = errorsOf(R"(admin: { token_env: "admin token SECRET1" }
providers:
  openai: { format: openai, base_url: "https://api.openai.com", routes: ["/v1/"], api_key_env: "https://SECRET2@example.com/" }
alerts:
  sinks:
    - { type: slack, url_env: "https://hooks.slack.com/services/T0/B0/SECRET3" }
)");
  EXPECT_THAT(
      errors,
      ElementsAre(
          "cfg.yaml:1:21: admin.token_env: the value is not an environment variable name "
          "(letters, digits and '_', not starting with a digit): character 6 of 19 is not allowed",
          "cfg.yaml:3:96: providers.openai.api_key_env: the value looks like a URL; *_env keys "
          "name "
          "an environment variable that holds it (e.g. SLACK_WEBHOOK_URL), never the URL itself",
          "cfg.yaml:6:31: alerts.sinks[0].url_env: the value looks like a URL; *_env keys name an "
          "environment variable that holds it (e.g. SLACK_WEBHOOK_URL), never the URL itself"));
  for (const auto& e : errors) EXPECT_EQ(e.find("SECRET"), std::string::npos) << e;
}

TEST(ConfigErrors, PricingErrors) {
  EXPECT_THAT(errorsOf(R"(pricing:
  unknown_model: price
  models:
    m1: { input: 1 }
    m2: { input: -1, output: 2, max_output_tokens: 0 }
)"),
              ElementsAre("cfg.yaml:2:18: pricing.unknown_model: price needs prices: "
                          "unknown_model: {price: {input: 1.0, output: 2.0}}",
                          "cfg.yaml:4:9: pricing.models.m1: output is required",
                          "cfg.yaml:5:18: pricing.models.m2.input: '-1' is not a price in USD per "
                          "1M tokens: a plain decimal with at most 6 decimals, e.g. 2.50",
                          "cfg.yaml:5:52: pricing.models.m2.max_output_tokens: must be at least "
                          "1, got 0"));
  EXPECT_THAT(errorsOf("pricing: { unknown_model: { price: { input: 1 } } }\n"),
              ElementsAre("cfg.yaml:1:36: pricing.unknown_model.price: output is required"));
  EXPECT_THAT(errorsOf("pricing: { unknown_model: deny }\n"),
              ElementsAre("cfg.yaml:1:27: pricing.unknown_model: unknown value 'deny'; expected "
                          "one of: reject, allow"));
}

// pricing.models follows the catalog file's rule: a finer price would be rounded silently.
TEST(ConfigErrors, ModelPricesFollowTheCatalogRule) {
  EXPECT_THAT(
      errorsOf(R"(pricing:
  unknown_model: { price: { input: 1e-6, output: 2 } }
  models:
    m7: { input: 0.0000004, output: 1.5e-6, cached_input: 0.1234567 }
    ok: { input: 0.000001, output: "2.50", cache_write_5m: 3 }
)"),
      ElementsAre("cfg.yaml:2:36: pricing.unknown_model.price.input: '1e-6' is not a price in USD "
                  "per 1M tokens: a plain decimal with at most 6 decimals, e.g. 2.50",
                  "cfg.yaml:4:18: pricing.models.m7.input: '0.0000004' is not a price in USD per "
                  "1M tokens: a plain decimal with at most 6 decimals, e.g. 2.50",
                  "cfg.yaml:4:37: pricing.models.m7.output: '1.5e-6' is not a price in USD per "
                  "1M tokens: a plain decimal with at most 6 decimals, e.g. 2.50",
                  "cfg.yaml:4:59: pricing.models.m7.cached_input: '0.1234567' is not a price in "
                  "USD per 1M tokens: a plain decimal with at most 6 decimals, e.g. 2.50"));
  const auto r =
      testing::load("pricing:\n  models:\n    ok: { input: 0.000001, output: \"2.50\" }\n");
  ASSERT_THAT(r.errors, ElementsAre());
  EXPECT_EQ(r.config->pricing.models.at("ok").input, 0.000001);
  EXPECT_EQ(r.config->pricing.models.at("ok").output, 2.5);
}

// check refuses what the store could not use, and never repeats the URL: it may hold a password.
TEST(ConfigErrors, RedisUrl) {
  const std::string usage = " (redis://[user:password@]host[:port][/db] or unix:///path)";
  const auto error = [](const std::string& url) {
    return errorsOf("store: { redis: { url: \"" + url + "\" } }\n");
  };
  EXPECT_THAT(error("http://127.0.0.1:6379"),
              ElementsAre("cfg.yaml:1:24: store.redis.url: not a Redis URL spendgate can use: "
                          "scheme must be redis:// or unix://" +
                          usage));
  EXPECT_THAT(error("rediss://cache.internal:6380/2"),
              ElementsAre("cfg.yaml:1:24: store.redis.url: not a Redis URL spendgate can use: "
                          "rediss:// (TLS) is not supported; use redis:// to a Redis on a "
                          "trusted network, or a local TLS tunnel (stunnel, ghostunnel) to a "
                          "remote one" +
                          usage));
  EXPECT_THAT(error("redis://127.0.0.1:6379/abc"),
              ElementsAre("cfg.yaml:1:24: store.redis.url: not a Redis URL spendgate can use: "
                          "path must be /<db number>" +
                          usage));
  const auto secret = error("redis://admin:Sup3rSecret@127.0.0.1:99999/0");
  EXPECT_THAT(secret,
              ElementsAre("cfg.yaml:1:24: store.redis.url: not a Redis URL spendgate can use: "
                          "invalid port '99999' (1-65535)" +
                          usage));
  EXPECT_THAT(error("redis://u:pa@ss@127.0.0.1/0"), ::testing::SizeIs(1));
  EXPECT_THAT(error("redis://127.0.0.1:6379/2"), ElementsAre());
  EXPECT_THAT(error("unix:///run/redis.sock?db=3"), ElementsAre());
  // A URL may hold a password or a webhook's token: no message repeats it.
  const auto errors = errorsOf(R"(store: { redis: { url: "redis://:SECRET1@cache:99999/0" } }
alerts:
  sinks:
    - { type: slack, url: "ftp://hooks.slack.com/services/T/B/SECRET2" }
    - { type: email, smtp_url: "smtp://user:SECRET3@", from: a@b.c, to: [x@y.z] }
)");
  EXPECT_THAT(errors,
              ElementsAre("cfg.yaml:1:24: store.redis.url: not a Redis URL spendgate can use: "
                          "invalid port '99999' (1-65535)" +
                              usage,
                          "cfg.yaml:4:27: alerts.sinks[0].url: the URL must start with one of "
                          "http://, https://",
                          "cfg.yaml:5:32: alerts.sinks[1].smtp_url: the URL has no host"));
  for (const auto& e : errors) EXPECT_EQ(e.find("SECRET"), std::string::npos) << e;
}

// serve has no TLS to Redis: a rediss:// URL would leave the store down for good (every request
// 503), so check and serve refuse it; the message does not repeat the URL (it may hold a password).
TEST(ConfigErrors, RedisTlsUrlIsRefused) {
  for (const char* url : {"rediss://:SECRET@cache.internal:6380/2", "REDISS://cache:6379"}) {
    const auto errors =
        errorsOf("store:\n  kind: redis\n  redis: { url: \"" + std::string(url) + "\" }\n");
    ASSERT_THAT(errors, ::testing::SizeIs(1)) << url;
    EXPECT_THAT(errors[0], ::testing::StartsWith("cfg.yaml:3:17: store.redis.url: not a Redis URL "
                                                 "spendgate can use: rediss:// (TLS) is not "
                                                 "supported; use redis://"))
        << url;
    EXPECT_THAT(errors[0], ::testing::Not(::testing::HasSubstr("SECRET")));
  }
}

TEST(ConfigErrors, SeveralErrorsAreReportedTogetherInFileOrder) {
  const auto errors = errorsOf(R"(logging: { level: loud }
server:
  listn: "127.0.0.1:8080"
  threads: many
providers:
  openai: { base_url: "nope" }
budgets:
  - { name: b, limit_usd: 0 }
)");
  EXPECT_THAT(errors,
              ElementsAre("cfg.yaml:1:19: logging.level: unknown value 'loud'; expected one of: "
                          "trace, debug, info, warn, error, off",
                          "cfg.yaml:3:3: unknown key 'listn' in server (did you mean 'listen'?)",
                          "cfg.yaml:4:12: server.threads: expected a whole number, got 'many'",
                          "cfg.yaml:6:23: providers.openai.base_url: invalid base_url 'nope': "
                          "not an absolute URL, e.g. https://api.openai.com",
                          "cfg.yaml:8:27: budgets[0].limit_usd: must be greater than 0"));
}

TEST(ConfigErrors, YamlSyntaxErrorPosition) {
  EXPECT_THAT(errorsOf("server:\n  routes: [\"/v1/\"\nadmin: {}\n"),
              ElementsAre("cfg.yaml:3:1: YAML syntax error: end of sequence flow not found"));
  EXPECT_THAT(errorsOf("a: b: c\n"),
              ElementsAre("cfg.yaml:1:5: YAML syntax error: illegal map value"));
  EXPECT_THAT(errorsOf("x: *nope\n"),
              ElementsAre("cfg.yaml:1:4: YAML syntax error: the referenced anchor is not "
                          "defined"));
}

// yaml-cpp names the symptom ("illegal map value"); the message names the tab.
TEST(ConfigErrors, TabIndentationIsNamed) {
  EXPECT_THAT(errorsOf("server:\n\tlisten: \"127.0.0.1:8080\"\n"),
              ElementsAre("cfg.yaml:2:8: YAML syntax error: illegal map value (line 2 is "
                          "indented with a tab; YAML indents with spaces only)"));
  // A tab after the indentation is not the cause and is not blamed.
  EXPECT_THAT(errorsOf("a:\tb: c\n"),
              ElementsAre("cfg.yaml:1:5: YAML syntax error: illegal map value"));
}

TEST(ConfigErrors, OnlyOneDocument) {
  EXPECT_THAT(errorsOf("server: {}\n---\nadmin: {}\n"),
              ElementsAre("cfg.yaml:3:1: only one YAML document is allowed"));
}

// Found by fuzzing (tests/fuzz/config_loader_fuzz.cpp): with a flow indicator where a document
// starts, yaml-cpp 0.7 returns empty documents forever without reading on, so YAML::LoadAll
// looped, allocating, until memory ran out: `spendgate check` and `serve` hung on a typo.
TEST(ConfigErrors, FlowIndicatorWhereADocumentStartsIsAnErrorNotAHang) {
  EXPECT_THAT(errorsOf(",}\n"),
              ElementsAre("cfg.yaml:1:1: YAML syntax error: unexpected character"));
  EXPECT_THAT(errorsOf("# budgets\n  , limit_usd: 100 }\n"),
              ElementsAre("cfg.yaml:2:3: YAML syntax error: unexpected character"));
  EXPECT_THAT(errorsOf("server: {}\n---\n"),
              ElementsAre(HasSubstr("only one YAML document is allowed")));
}

TEST(ConfigErrors, SourceNameIsTheFilePrefix) {
  const auto r = loadConfigString("servr: {}\n", "/etc/spendgate/spendgate.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_THAT(r.errors[0], HasSubstr("/etc/spendgate/spendgate.yaml:1:1: unknown key 'servr'"));
}

}  // namespace
}  // namespace spendgate::config
