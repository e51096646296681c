#include "core/pricing/pricer.hpp"

#include <gtest/gtest.h>

#include <limits>

#include "core/metering/request_classifier.hpp"
#include "core/usage/usage_extractor.hpp"
#include "tests/core/test_catalog.hpp"
#include "tests/core/usage_test_util.hpp"

namespace spendgate::core {
namespace {

using testing::readFixture;
using testing::testCatalog;

Pricer pricer(UnknownModelPolicy::Kind kind = UnknownModelPolicy::Kind::Reject) {
  UnknownModelPolicy policy;
  policy.kind = kind;
  policy.rates.input = 1'000'000;   // 1.00 USD / 1M
  policy.rates.output = 2'000'000;  // 2.00 USD / 1M
  return Pricer(testCatalog(), policy);
}

Usage usage(std::string model, std::int64_t input, std::int64_t output) {
  Usage u;
  u.model = std::move(model);
  u.input_tokens = input;
  u.output_tokens = output;
  u.reported = true;
  return u;
}

TEST(Pricer, OpenAiCachedAndReasoningFromFixture) {
  const RequestInfo info =
      classifyRequest(ProviderFormat::OpenAI, "/v1/chat/completions", "", R"({"model":"gpt-5"})");
  const UsageResult r = testing::extract(info, "application/json", readFixture("openai_chat.json"));
  const Cost cost = pricer().cost(r.usage, info.requested_model);
  // gpt-5: 1.25 in, 0.125 cached, 10.00 out (USD / 1M = micro-USD per token... x1e6 picodollars)
  //   uncached (1486 - 1408) = 78 x 1'250'000 =    97'500'000
  //   cached   1408          x   125'000       =   176'000'000
  //   output   651 (reasoning 512 inside) x 10'000'000 = 6'510'000'000
  //   total                                     = 6'783'500'000 pUSD = 0.0067835 USD
  EXPECT_EQ(cost.amount, 6'783'500'000);
  EXPECT_EQ(cost.price_source, "catalog:exact-request");  // "gpt-5-2025-08-07" is not listed
  EXPECT_EQ(cost.priced_model, "gpt-5");
  EXPECT_EQ(formatUsd(cost.amount), "0.0067835");
  EXPECT_DOUBLE_EQ(cost.usd(), 0.0067835);
}

TEST(Pricer, AnthropicCacheReadsAndBothCacheWritesFromStream) {
  const RequestInfo info = classifyRequest(ProviderFormat::Anthropic, "/v1/messages", "",
                                           R"({"model":"claude-sonnet-4-5","stream":true})");
  const UsageResult r =
      testing::extract(info, "text/event-stream", readFixture("anthropic_stream.sse"));
  const Cost cost = pricer().cost(r.usage, info.requested_model);
  // claude-sonnet-4-5: 3.00 in, 0.30 read, 3.75 write 5m, 6.00 write 1h, 15.00 out, 0.01/search
  //   uncached 21    x  3'000'000 =         63'000'000
  //   read     12000 x    300'000 =      3'600'000'000
  //   write5m  1000  x  3'750'000 =      3'750'000'000
  //   write1h  2000  x  6'000'000 =     12'000'000'000
  //   output   89    x 15'000'000 =      1'335'000'000
  //   searches 2     x 10'000'000'000 = 20'000'000'000
  //   total                        =    40'748'000'000 pUSD = 0.040748 USD
  EXPECT_EQ(cost.amount, 40'748'000'000);
  EXPECT_EQ(cost.price_source, "catalog:exact-response");
  EXPECT_EQ(cost.rate_variant, "");
}

TEST(Pricer, AnthropicJsonDatedResponseFallsBackToAlias) {
  const RequestInfo info = classifyRequest(ProviderFormat::Anthropic, "/v1/messages", "",
                                           R"({"model":"claude-opus-4-1"})");
  const UsageResult r =
      testing::extract(info, "application/json", readFixture("anthropic_message.json"));
  const Cost cost = pricer().cost(r.usage, "claude-opus-4-1-20250805");
  // claude-opus-4-1: 15.00 in, 1.50 read, 18.75 write 5m, 30.00 write 1h, 75.00 out
  //   uncached 4     x 15'000'000 =         60'000'000
  //   read     30000 x  1'500'000 =     45'000'000'000
  //   write5m  676   x 18'750'000 =     12'675'000'000
  //   write1h  1000  x 30'000'000 =     30'000'000'000
  //   output   132   x 75'000'000 =      9'900'000'000
  //   search   1     x 10'000'000'000 = 10'000'000'000
  //   total                        =   107'635'000'000 pUSD
  EXPECT_EQ(cost.amount, 107'635'000'000);
  EXPECT_EQ(cost.price_source, "catalog:dated-response");
  EXPECT_EQ(cost.priced_model, "claude-opus-4-1");
}

TEST(Pricer, GeminiThoughtsBilledAsOutput) {
  const RequestInfo info =
      classifyRequest(ProviderFormat::Gemini,
                      "/v1beta/models/gemini-2.5-flash:streamGenerateContent", "alt=sse", "{}");
  const UsageResult r =
      testing::extract(info, "text/event-stream", readFixture("gemini_stream.sse"));
  const Cost cost = pricer().cost(r.usage, info.requested_model);
  // gemini-2.5-flash: 0.30 in, 0.03 cached, 2.50 out
  //   uncached 131 - 100 = 31 x   300'000 =   9'300'000
  //   cached   100           x    30'000 =   3'000'000
  //   output   15 + 95 = 110 x 2'500'000 = 275'000'000
  //   total                              = 287'300'000 pUSD
  EXPECT_EQ(cost.amount, 287'300'000);
  EXPECT_EQ(cost.priced_model, "gemini/gemini-2.5-flash");
  EXPECT_EQ(cost.price_source, "catalog:exact-response");
}

TEST(Pricer, GeminiLongContextTierAppliesToTheWholeRequest) {
  const RequestInfo info = classifyRequest(
      ProviderFormat::Gemini, "/v1beta/models/gemini-2.5-pro:generateContent", "", "{}");
  const UsageResult r =
      testing::extract(info, "application/json", readFixture("gemini_generate.json"));
  const Cost cost = pricer().cost(r.usage, info.requested_model);
  // prompt 250000 > 200000: every token at the long-context rates 2.50 / 0.25 / 15.00
  //   uncached 200000 x  2'500'000 = 500'000'000'000
  //   cached    50000 x    250'000 =  12'500'000'000
  //   output     3000 x 15'000'000 =  45'000'000'000
  //   total                        = 557'500'000'000 pUSD = 0.5575 USD
  EXPECT_EQ(cost.amount, 557'500'000'000);
  EXPECT_EQ(cost.rate_variant, "long-context");
}

TEST(Pricer, LongContextThresholdIsExclusive) {
  const Pricer p = pricer();
  // At 200000: base rates 200000 x 3'000'000 + 1000 x 15'000'000 = 600e9 + 15e9 = 615e9
  EXPECT_EQ(p.cost(usage("claude-sonnet-4-5", 200000, 1000), "").amount, 615'000'000'000);
  // At 200001: long rates 200001 x 6'000'000 + 1000 x 22'500'000 = 1'200'006e6 + 22'500e6
  EXPECT_EQ(p.cost(usage("claude-sonnet-4-5", 200001, 1000), "").amount, 1'222'506'000'000);
}

TEST(Pricer, DatedSnapshotsExactFirstThenStripped) {
  const Pricer p = pricer();
  // gpt-4o-2024-05-13 has its own price: 1000 x 5'000'000 + 100 x 15'000'000 = 5e9 + 1.5e9
  const Cost old = p.cost(usage("gpt-4o-2024-05-13", 1000, 100), "gpt-4o-2024-05-13");
  EXPECT_EQ(old.amount, 6'500'000'000);
  EXPECT_EQ(old.price_source, "catalog:exact-response");
  // gpt-4o-2024-08-06 falls back to gpt-4o: 1000 x 2'500'000 + 100 x 10'000'000 = 2.5e9 + 1e9
  const Cost newer = p.cost(usage("gpt-4o-2024-08-06", 1000, 100), "my-alias");
  EXPECT_EQ(newer.amount, 3'500'000'000);
  EXPECT_EQ(newer.price_source, "catalog:dated-response");
  EXPECT_EQ(newer.priced_model, "gpt-4o");
  // The exact request model beats a stripped response model.
  EXPECT_EQ(p.cost(usage("gpt-4o-2024-08-06", 1000, 100), "gpt-4o").price_source,
            "catalog:exact-request");
  // YYYYMMDD and a dated request model.
  EXPECT_EQ(p.cost(usage("", 10, 10), "claude-sonnet-4-5-20991231").price_source,
            "catalog:dated-request");
}

// docs/metering.md: Azure follows the same order; the answer's model does not beat an exact
// request model. A deployment named gpt-4o-mini that runs gpt-4o-2024-08-06 costs gpt-4o-mini.
TEST(Pricer, AzureDeploymentNamedLikeAModelIsPricedAsThatModel) {
  const Pricer p = pricer();
  const RequestInfo req = classifyRequest(
      ProviderFormat::Azure, "/openai/deployments/gpt-4o-mini/chat/completions", "", "{}");
  ASSERT_EQ(req.requested_model, "gpt-4o-mini");
  const Cost cost = p.cost(usage("gpt-4o-2024-08-06", 1000, 100), req.requested_model);
  EXPECT_EQ(cost.price_source, "catalog:exact-request");
  EXPECT_EQ(cost.priced_model, "gpt-4o-mini");
  // An unmapped deployment whose name is no model: the answer's model, date removed.
  EXPECT_EQ(p.cost(usage("gpt-4o-2024-08-06", 1000, 100), "prod-chat").price_source,
            "catalog:dated-response");
}

TEST(Pricer, GeminiNameSpellings) {
  const Pricer p = pricer();
  for (const char* name :
       {"models/gemini-2.5-flash", "gemini-2.5-flash", "gemini/gemini-2.5-flash"}) {
    const auto match = p.resolve(name, "");
    ASSERT_TRUE(match) << name;
    EXPECT_EQ(match->model, "gemini/gemini-2.5-flash") << name;
  }
  EXPECT_FALSE(p.resolve("models/gemini-9", ""));
}

TEST(Pricer, GeminiPinnedVersionIsPricedAsTheStableModel) {
  const Pricer p = pricer();
  // gemini-2.5-flash: 1000 x 300'000 + 100 x 2'500'000 = 300e6 + 250e6
  const Cost response = p.cost(usage("gemini-2.5-flash-001", 1000, 100), "");
  EXPECT_TRUE(response.priced);
  EXPECT_EQ(response.amount, 550'000'000);
  EXPECT_EQ(response.price_source, "catalog:versioned-response");
  EXPECT_EQ(response.priced_model, "gemini/gemini-2.5-flash");
  // The request model in the API's path spelling, no response model.
  const Cost request = p.cost(usage("", 1000, 100), "models/gemini-2.5-pro-002");
  EXPECT_EQ(request.price_source, "catalog:versioned-request");
  EXPECT_EQ(request.priced_model, "gemini/gemini-2.5-pro");
  // An exact request model beats a stripped response model.
  EXPECT_EQ(p.cost(usage("gemini-2.5-flash-001", 10, 10), "gemini-2.5-flash").price_source,
            "catalog:exact-request");
  // Admission: a Gemini request for a pinned version is not refused under unknown_model: reject.
  const RequestInfo req = classifyRequest(
      ProviderFormat::Gemini, "/v1beta/models/gemini-2.5-flash-001:generateContent", "", "{}");
  ASSERT_EQ(req.requested_model, "gemini-2.5-flash-001");
  const WorstCase w = p.worstCase(req);
  EXPECT_FALSE(w.rejected);
  EXPECT_TRUE(w.priced);
  EXPECT_EQ(w.price_source, "catalog:versioned-request");
  // Only Gemini names: an OpenAI-style "-001" stays unpriced, and so does an unknown Gemini.
  EXPECT_TRUE(p.cost(usage("gpt-4o-001", 10, 10), "").rejected);
  EXPECT_TRUE(p.cost(usage("gemini-9-ultra-001", 10, 10), "").rejected);
}

TEST(Pricer, GeminiPinnedVersionWithItsOwnEntryIsPricedExactly) {
  PriceCatalog catalog = testCatalog();
  ModelPrice pinned;
  pinned.rates = {100'000, std::nullopt, std::nullopt, std::nullopt,
                  400'000, std::nullopt, std::nullopt};
  catalog.set("gemini/gemini-2.5-flash-001", pinned);
  const Pricer p(std::move(catalog), UnknownModelPolicy{});
  // 1000 x 100'000 + 100 x 400'000 = 100e6 + 40e6, not gemini-2.5-flash's 550e6
  const Cost cost = p.cost(usage("gemini-2.5-flash-001", 1000, 100), "");
  EXPECT_EQ(cost.amount, 140'000'000);
  EXPECT_EQ(cost.price_source, "catalog:exact-response");
  EXPECT_EQ(cost.priced_model, "gemini/gemini-2.5-flash-001");
}

TEST(Pricer, UnknownModelUnderEachPolicy) {
  const Usage u = usage("acme-llm-7b", 1000, 100);
  const Cost rejected = pricer(UnknownModelPolicy::Kind::Reject).cost(u, "acme-llm");
  EXPECT_TRUE(rejected.rejected);
  EXPECT_FALSE(rejected.priced);
  EXPECT_EQ(rejected.amount, 0);
  EXPECT_EQ(rejected.price_source, "unpriced");

  const Cost allowed = pricer(UnknownModelPolicy::Kind::Allow).cost(u, "acme-llm");
  EXPECT_FALSE(allowed.rejected);
  EXPECT_FALSE(allowed.priced);
  EXPECT_EQ(allowed.amount, 0);
  EXPECT_EQ(allowed.price_source, "unpriced");

  const Cost priced = pricer(UnknownModelPolicy::Kind::Price).cost(u, "acme-llm");
  // 1000 x 1'000'000 + 100 x 2'000'000 = 1e9 + 2e8
  EXPECT_EQ(priced.amount, 1'200'000'000);
  EXPECT_TRUE(priced.priced);
  EXPECT_EQ(priced.price_source, "policy:price");
}

TEST(Pricer, ServiceTierVariantFromTheResponse) {
  const Pricer p = pricer();
  Usage u = usage("gpt-5-2025-08-07", 1000, 100);
  u.cached_input_tokens = 400;
  u.service_tier = "flex";
  const Cost flex = p.cost(u, "gpt-5");
  // flex: 600 x 625'000 + 400 x 62'500 + 100 x 5'000'000 = 375e6 + 25e6 + 500e6
  EXPECT_EQ(flex.amount, 900'000'000);
  EXPECT_EQ(flex.rate_variant, "tier:flex");
  u.service_tier = "default";
  // base: 600 x 1'250'000 + 400 x 125'000 + 100 x 10'000'000 = 750e6 + 50e6 + 1000e6
  EXPECT_EQ(p.cost(u, "gpt-5").amount, 1'800'000'000);
}

TEST(Pricer, EverySourceNamesItsOriginAndRule) {
  // The price source is one of twelve static texts, "<origin>:<rule>": each origin and rule must
  // name its own, the same in cost(), resolve() and worstCase().
  for (const PriceOrigin origin : {PriceOrigin::Catalog, PriceOrigin::Config}) {
    PriceCatalog catalog = testCatalog();
    for (const char* name : {"gpt-4o", "gemini/gemini-2.5-flash"}) {
      ModelPrice price = *catalog.find(name)->second;
      price.origin = origin;
      catalog.set(name, price);
    }
    const Pricer p(catalog, UnknownModelPolicy{});
    const std::string prefix = origin == PriceOrigin::Config ? "config:" : "catalog:";
    const struct {
      const char* response;
      const char* request;
      const char* rule;
    } cases[] = {
        {"gpt-4o", "", "exact-response"},
        {"", "gpt-4o", "exact-request"},
        {"gpt-4o-2031-01-01", "", "dated-response"},
        {"", "gpt-4o-2031-01-01", "dated-request"},
        {"gemini-2.5-flash-001", "", "versioned-response"},
        {"", "gemini-2.5-flash-001", "versioned-request"},
    };
    for (const auto& c : cases) {
      const std::string want = prefix + c.rule;
      EXPECT_EQ(p.cost(usage(c.response, 10, 10), c.request).price_source, want) << want;
      const auto match = p.resolve(c.response, c.request);
      ASSERT_TRUE(match) << want;
      EXPECT_EQ(match->source, want);
      if (*c.response == '\0') {
        RequestInfo info;
        info.kind = EndpointKind::ChatCompletions;
        info.requested_model = c.request;
        EXPECT_EQ(p.worstCase(info).price_source, want);
      }
    }
  }
}

TEST(Pricer, ConfigOverrideIsReportedAsConfig) {
  PriceCatalog catalog = testCatalog();
  ModelPrice mine;
  mine.rates = {300'000,   150'000,      std::nullopt, std::nullopt,
                1'200'000, std::nullopt, std::nullopt};
  mine.origin = PriceOrigin::Config;
  catalog.set("ft:gpt-4o-mini:acme", mine);
  catalog.set("gpt-4o", mine);
  const Pricer p(catalog, UnknownModelPolicy{});
  EXPECT_EQ(p.cost(usage("ft:gpt-4o-mini:acme", 10, 10), "").price_source, "config:exact-response");
  // 10 x 300'000 + 10 x 1'200'000 = 3e6 + 12e6
  EXPECT_EQ(p.cost(usage("gpt-4o", 10, 10), "").amount, 15'000'000);
}

TEST(Pricer, DefaultCacheWriteRatesFollowAnthropicMultipliers) {
  TokenRates rates;
  rates.input = 1'000'000;
  rates.output = 0;
  Usage u = usage("", 300, 0);
  u.cache_write_tokens = 200;
  u.cache_write_1h_tokens = 100;
  u.cache_write_5m_tokens = 100;
  // uncached 100 x 1e6 + 5m 100 x 1.25e6 + 1h 100 x 2e6 = 100e6 + 125e6 + 200e6
  EXPECT_EQ(costAtRates(u, rates, 0), 425'000'000);
}

TEST(Pricer, ArithmeticSaturatesInsteadOfWrapping) {
  TokenRates rates;
  rates.input = 1'000'000'000'000'000;  // absurd rate
  rates.output = 1'000'000'000'000'000;
  const Usage u = usage("", 1'000'000'000, 1'000'000'000);
  EXPECT_EQ(costAtRates(u, rates, 0), std::numeric_limits<Picodollars>::max());
}

TEST(Pricer, WorstCase) {
  const Pricer p = pricer();
  RequestInfo req;
  req.kind = EndpointKind::ChatCompletions;
  req.requested_model = "gpt-4o-mini";
  req.request_body_bytes = 1000;
  req.max_output_tokens = 500;
  req.choices = 2;
  // input bound 1000 x 150'000 + output (500 x 2 choices) x 600'000 = 150e6 + 600e6
  WorstCase w = p.worstCase(req);
  EXPECT_EQ(w.amount, 750'000'000);
  EXPECT_EQ(w.input_tokens_bound, 1000);
  EXPECT_EQ(w.output_tokens_bound, 1000);

  req.max_output_tokens.reset();
  req.choices = 1;
  // no cap in the request: the model's 16384: 150e6 + 16384 x 600'000 = 150e6 + 9'830'400'000
  EXPECT_EQ(p.worstCase(req).amount, 9'980'400'000);

  req.kind = EndpointKind::Embeddings;
  req.requested_model = "text-embedding-3-small";
  // 1000 x 20'000, no output
  EXPECT_EQ(p.worstCase(req).amount, 20'000'000);

  req.kind = EndpointKind::AnthropicMessages;
  req.requested_model = "claude-sonnet-4-5";
  req.request_body_bytes = 2000;
  req.max_output_tokens = 1024;
  // dearest input-side rate is the 1h write (6.00): 2000 x 6'000'000 + 1024 x 15'000'000
  //   = 12'000'000'000 + 15'360'000'000
  EXPECT_EQ(p.worstCase(req).amount, 27'360'000'000);

  req.requested_model = "acme";
  EXPECT_TRUE(p.worstCase(req).rejected);
  EXPECT_FALSE(pricer(UnknownModelPolicy::Kind::Allow).worstCase(req).rejected);
  EXPECT_EQ(pricer(UnknownModelPolicy::Kind::Allow).worstCase(req).amount, 0);
  req.max_output_tokens.reset();
  // price policy without any output cap: 2000 x 1'000'000 + 128000 x 2'000'000 = 2e9 + 256e9
  EXPECT_EQ(pricer(UnknownModelPolicy::Kind::Price).worstCase(req).amount, 258'000'000'000);
}

TEST(Pricer, AudioTokensAtTheAudioRates) {
  // provider-usage.md §7.1 / §7.4: gpt-4o-audio-preview, text 2.50 / 10.00, audio 40.00 / 80.00.
  PriceCatalog catalog("test-audio", "2026-01-01");
  ModelPrice audio;
  audio.rates.input = 2'500'000;
  audio.rates.output = 10'000'000;
  audio.rates.input_audio = 40'000'000;
  audio.rates.output_audio = 80'000'000;
  audio.max_output_tokens = 16384;
  catalog.set("gpt-4o-audio-preview", audio);
  ModelPrice text;
  text.rates.input = 2'500'000;
  text.rates.output = 10'000'000;
  catalog.set("gpt-4o", text);
  const Pricer p(catalog, UnknownModelPolicy{});

  Usage u = usage("gpt-4o-audio-preview", 1000, 500);
  u.audio_input_tokens = 800;
  u.audio_output_tokens = 400;
  // (1000 - 800) x 2.5e6 + 800 x 40e6 + (500 - 400) x 10e6 + 400 x 80e6
  //   = 500e6 + 32'000e6 + 1'000e6 + 32'000e6 = 65'500'000'000 = 0.0655 USD
  EXPECT_EQ(p.cost(u, "").amount, 65'500'000'000);

  // Cached tokens at the cache-read rate, audio only on the uncached rest (never below 0).
  u.cached_input_tokens = 100;
  // (1000 - 100 - 800) x 2.5e6 + 100 x 2.5e6 + 800 x 40e6 + output as above
  EXPECT_EQ(p.cost(u, "").amount, 250'000'000 + 250'000'000 + 32'000'000'000 + 33'000'000'000);
  u.cached_input_tokens = 900;  // overlaps the audio count: 100 uncached tokens left, all audio
  EXPECT_EQ(p.cost(u, "").amount, 100LL * 40'000'000 + 900LL * 2'500'000 + 33'000'000'000);

  // A model without audio rates bills audio at its text rates.
  Usage t = usage("gpt-4o", 1000, 500);
  t.audio_input_tokens = 800;
  t.audio_output_tokens = 400;
  EXPECT_EQ(p.cost(t, "").amount, 1000LL * 2'500'000 + 500LL * 10'000'000);

  // The worst case bounds every output token at the audio rate (any of them may be audio); the
  // input bound (one token per body byte) at the text rate already covers audio input, whose
  // tokens take hundreds of bytes each.
  RequestInfo req;
  req.kind = EndpointKind::ChatCompletions;
  req.requested_model = "gpt-4o-audio-preview";
  req.request_body_bytes = 1000;
  req.max_output_tokens = 100;
  EXPECT_EQ(p.worstCase(req).amount, 1000LL * 2'500'000 + 100LL * 80'000'000);
  req.requested_model = "gpt-4o";
  EXPECT_EQ(p.worstCase(req).amount, 1000LL * 2'500'000 + 100LL * 10'000'000);
}

TEST(Pricer, UnmeteredWorstCaseIsZeroWhateverThePolicy) {
  // count_tokens names a priced model and asks for no output cap: still free.
  RequestInfo req = classifyRequest(ProviderFormat::Anthropic, "/v1/messages/count_tokens", "",
                                    R"({"model":"claude-sonnet-4-5","messages":[]})");
  ASSERT_EQ(req.kind, EndpointKind::Unmetered);
  for (const auto kind : {UnknownModelPolicy::Kind::Reject, UnknownModelPolicy::Kind::Allow,
                          UnknownModelPolicy::Kind::Price}) {
    const WorstCase w = pricer(kind).worstCase(req);
    EXPECT_EQ(w.amount, 0);
    EXPECT_EQ(w.output_tokens_bound, 0);
    EXPECT_FALSE(w.rejected);
    EXPECT_EQ(w.price_source, "unmetered");
  }
  req.requested_model = "acme-unknown";  // unpriced: still not rejected
  EXPECT_FALSE(pricer().worstCase(req).rejected);
  EXPECT_EQ(pricer(UnknownModelPolicy::Kind::Price).worstCase(req).amount, 0);
}

TEST(Pricer, GeminiEmbeddingWorstCaseIsInputOnly) {
  PriceCatalog catalog = testCatalog();
  ModelPrice embedding;
  embedding.rates.input = 150'000;  // 0.15 USD / 1M
  embedding.rates.output = 0;
  catalog.set("gemini/gemini-embedding-001", embedding);
  const Pricer p(std::move(catalog), UnknownModelPolicy{});
  const RequestInfo req =
      classifyRequest(ProviderFormat::Gemini, "/v1beta/models/gemini-embedding-001:embedContent",
                      "", R"({"content":{"parts":[{"text":"hello"}]}})");
  const WorstCase w = p.worstCase(req);
  EXPECT_TRUE(w.priced);
  EXPECT_EQ(w.output_tokens_bound, 0);
  EXPECT_EQ(w.amount, req.request_body_bytes * 150'000);
}

TEST(Money, ParsesDecimalsExactly) {
  EXPECT_EQ(parseUsdPerMillion("2.50"), 2'500'000);
  EXPECT_EQ(parseUsdPerMillion("0.075"), 75'000);
  EXPECT_EQ(parseUsdPerMillion("10"), 10'000'000);
  EXPECT_EQ(parseUsdPerMillion("0.000001"), 1);
  EXPECT_EQ(parseUsdPerMillion("0"), 0);
  EXPECT_EQ(parseUsdPerMillion("0.0000001"), std::nullopt);
  EXPECT_EQ(parseUsdPerMillion("-1"), std::nullopt);
  EXPECT_EQ(parseUsdPerMillion("1e-6"), std::nullopt);
  EXPECT_EQ(parseUsdPerMillion(""), std::nullopt);
  EXPECT_EQ(parseUsdPerMillion("."), std::nullopt);
  EXPECT_EQ(parseUsdPerMillion("1.2.3"), std::nullopt);
  EXPECT_EQ(ratePerTokenFromUsdPerMillion(0.1 + 0.2), 300'000);  // 0.30000000000000004
  EXPECT_EQ(ratePerTokenFromUsdPerMillion(-1.0), std::nullopt);
  EXPECT_EQ(formatUsd(0), "0");
  EXPECT_EQ(formatUsd(1'500'000'000'000), "1.5");
  EXPECT_EQ(formatUsd(-1), "-0.000000000001");
}

TEST(Money, SumsDoNotDrift) {
  // A million requests of 0.0000003 USD each: exactly 0.3 USD, where doubles drift.
  Picodollars total = 0;
  double drift = 0;
  for (int i = 0; i < 1'000'000; ++i) {
    total = saturatingAdd(total, 300'000);
    drift += 0.0000003;
  }
  EXPECT_EQ(total, 300'000'000'000);
  EXPECT_NE(drift, 0.3);
}

TEST(PriceCatalog, StripDateSuffix) {
  EXPECT_EQ(stripDateSuffix("gpt-4o-2024-08-06"), "gpt-4o");
  EXPECT_EQ(stripDateSuffix("claude-sonnet-4-5-20250929"), "claude-sonnet-4-5");
  EXPECT_EQ(stripDateSuffix("gpt-4o"), std::nullopt);
  EXPECT_EQ(stripDateSuffix("gpt-4-0613"), std::nullopt);
  EXPECT_EQ(stripDateSuffix("model-12345678"), std::nullopt);  // not a plausible date
  EXPECT_EQ(stripDateSuffix("-2024-08-06"), std::nullopt);
}

TEST(PriceCatalog, StripGeminiVersionSuffix) {
  EXPECT_EQ(stripGeminiVersionSuffix("gemini-2.0-flash-001"), "gemini-2.0-flash");
  EXPECT_EQ(stripGeminiVersionSuffix("gemini-1.5-pro-002"), "gemini-1.5-pro");
  EXPECT_EQ(stripGeminiVersionSuffix("gemini-1.5-flash-8b-001"), "gemini-1.5-flash-8b");
  // Prefixes are kept: PriceCatalog::find reads every Gemini spelling.
  EXPECT_EQ(stripGeminiVersionSuffix("models/gemini-2.0-flash-lite-001"),
            "models/gemini-2.0-flash-lite");
  EXPECT_EQ(stripGeminiVersionSuffix("gemini/gemini-2.0-flash-001"), "gemini/gemini-2.0-flash");
  // Stripped too, but only used when the exact name (which the catalog has) is missing.
  EXPECT_EQ(stripGeminiVersionSuffix("gemini-embedding-001"), "gemini-embedding");
  for (const char* name : {
           "gemini-2.0-flash",                // no suffix
           "gemini-2.0-flash-01",             // two digits
           "gemini-2.0-flash-0001",           // four digits
           "gemini-2.0-flash-00a",            // not digits
           "gemini-2.0-flash_001",            // not a dash
           "gemini-2.5-flash-preview-05-20",  // a preview date, not a version
           "gemini-001",                      // nothing left to price
           "gemini-x--001",                   // would leave a trailing dash
           "gpt-4o-001",                      // not Gemini
           "davinci-002",                     // OpenAI's own -002 models keep their name
           "text-embedding-004",              // Google, but not a gemini- name
           "models/text-embedding-004",
           "-001",
           "",
       }) {
    EXPECT_EQ(stripGeminiVersionSuffix(name), std::nullopt) << name;
  }
}

TEST(PriceCatalog, CopiesAndMovesFindTheirOwnEntries) {
  PriceCatalog original = testing::testCatalog();
  const std::size_t size = original.size();
  ASSERT_TRUE(original.find("gpt-4o-mini"));

  PriceCatalog copy(original);
  ModelPrice changed;
  changed.rates.input = 1;
  original.set("gpt-4o-mini", changed);  // the copy keeps its own price
  original.set("brand-new", changed);
  ASSERT_TRUE(copy.find("gpt-4o-mini"));
  EXPECT_EQ(copy.find("gpt-4o-mini")->second->rates.input, 150'000);
  EXPECT_EQ(original.find("gpt-4o-mini")->second->rates.input, 1);
  EXPECT_FALSE(copy.find("brand-new"));
  EXPECT_EQ(copy.size(), size);

  PriceCatalog moved(std::move(copy));
  ASSERT_TRUE(moved.find("gpt-4o-mini"));
  EXPECT_EQ(*moved.find("gpt-4o-mini")->first, "gpt-4o-mini");

  PriceCatalog assigned;
  assigned = original;
  EXPECT_EQ(assigned.find("brand-new")->second->rates.input, 1);
  assigned = std::move(moved);
  EXPECT_EQ(assigned.find("gpt-4o-mini")->second->rates.input, 150'000);
  EXPECT_FALSE(assigned.find("brand-new"));
  auto& self = assigned;
  assigned = self;
  EXPECT_TRUE(assigned.find("gpt-4o-mini"));
  {
    PriceCatalog scoped = original;  // destroyed: the others must not point into it
  }
  EXPECT_EQ(Pricer(original, {}).catalog().find("brand-new")->second->rates.input, 1);
}

}  // namespace
}  // namespace spendgate::core
