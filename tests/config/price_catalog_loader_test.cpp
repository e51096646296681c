#include "config/price_catalog_loader.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace spendgate::config {
namespace {

using core::ModelPrice;
using core::PriceOrigin;

const std::string kShippedPath = std::string(SPENDGATE_SOURCE_DIR) + "/config/pricing.yaml";

std::vector<std::string> errorsOf(const std::string& yaml) {
  return parsePriceCatalog(yaml, "prices.yaml").errors;
}

const ModelPrice& entry(const core::PriceCatalog& catalog, const std::string& name) {
  const auto found = catalog.find(name);
  EXPECT_TRUE(found) << name;
  static const ModelPrice missing;
  return found ? *found->second : missing;
}

TEST(PriceCatalogLoader, EmbeddedTextIsTheShippedFile) {
  std::ifstream in(kShippedPath, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  EXPECT_EQ(builtinPriceCatalogYaml(), text.str()) << "re-run cmake to regenerate";
}

TEST(PriceCatalogLoader, ShippedCatalogLoadsWithVersionAndDate) {
  const auto result = loadPriceCatalog(kShippedPath);
  ASSERT_TRUE(result.errors.empty()) << result.errors.front();
  ASSERT_TRUE(result.catalog);
  EXPECT_FALSE(result.catalog->version().empty());
  EXPECT_EQ(result.catalog->date().size(), 10u);
  const core::PriceCatalog& builtin = builtinPriceCatalog();
  EXPECT_EQ(builtin.size(), result.catalog->size());
  EXPECT_EQ(builtin.version(), result.catalog->version());
}

TEST(PriceCatalogLoader, ShippedCatalogHasEveryModelOfTheReference) {
  const core::PriceCatalog& c = builtinPriceCatalog();
  // name, input, cached, output (micro-USD per 1M tokens), max output tokens
  struct Row {
    const char* name;
    core::Picodollars input, cached, output;
    std::int64_t max_output;
  };
  for (const Row& row : {
           Row{"gpt-4o", 2'500'000, 1'250'000, 10'000'000, 16384},
           Row{"gpt-4o-2024-05-13", 5'000'000, 5'000'000, 15'000'000, 4096},
           Row{"gpt-4o-mini", 150'000, 75'000, 600'000, 16384},
           Row{"gpt-4.1", 2'000'000, 500'000, 8'000'000, 32768},
           Row{"gpt-4.1-mini", 400'000, 100'000, 1'600'000, 32768},
           Row{"gpt-4.1-nano", 100'000, 25'000, 400'000, 32768},
           Row{"o3", 2'000'000, 500'000, 8'000'000, 100000},
           Row{"o4-mini", 1'100'000, 275'000, 4'400'000, 100000},
           Row{"gpt-5", 1'250'000, 125'000, 10'000'000, 128000},
           Row{"gpt-5-mini", 250'000, 25'000, 2'000'000, 128000},
           Row{"gpt-5-nano", 50'000, 5'000, 400'000, 128000},
           Row{"text-embedding-3-small", 20'000, 20'000, 0, 0},
           Row{"text-embedding-3-large", 130'000, 130'000, 0, 0},
           Row{"gpt-4o-audio-preview", 2'500'000, 2'500'000, 10'000'000, 16384},
           Row{"gpt-3.5-turbo-instruct", 1'500'000, 1'500'000, 2'000'000, 4096},
           Row{"claude-sonnet-4-20250514", 3'000'000, 300'000, 15'000'000, 64000},
           Row{"claude-sonnet-4-5", 3'000'000, 300'000, 15'000'000, 64000},
           Row{"claude-sonnet-4-5-20250929", 3'000'000, 300'000, 15'000'000, 64000},
           Row{"claude-opus-4-20250514", 15'000'000, 1'500'000, 75'000'000, 32000},
           Row{"claude-opus-4-1", 15'000'000, 1'500'000, 75'000'000, 32000},
           Row{"claude-opus-4-1-20250805", 15'000'000, 1'500'000, 75'000'000, 32000},
           Row{"claude-opus-4-5", 5'000'000, 500'000, 25'000'000, 64000},
           Row{"claude-opus-4-5-20251101", 5'000'000, 500'000, 25'000'000, 64000},
           Row{"claude-haiku-4-5", 1'000'000, 100'000, 5'000'000, 64000},
           Row{"claude-haiku-4-5-20251001", 1'000'000, 100'000, 5'000'000, 64000},
           Row{"claude-3-5-haiku-20241022", 800'000, 80'000, 4'000'000, 8192},
           Row{"gemini-2.5-pro", 1'250'000, 125'000, 10'000'000, 65536},
           Row{"gemini-2.5-flash", 300'000, 30'000, 2'500'000, 65536},
           Row{"gemini-2.0-flash", 100'000, 25'000, 400'000, 8192},
       }) {
    const ModelPrice& p = entry(c, row.name);
    EXPECT_EQ(p.rates.input, row.input) << row.name;
    EXPECT_EQ(p.rates.cachedInput(), row.cached) << row.name;
    EXPECT_EQ(p.rates.output, row.output) << row.name;
    EXPECT_EQ(p.max_output_tokens, row.max_output) << row.name;
    EXPECT_EQ(p.origin, PriceOrigin::Catalog) << row.name;
  }
}

TEST(PriceCatalogLoader, ShippedCatalogHasTheReferencesAudioRates) {
  // provider-usage.md §7.1 and §7.3 (LiteLLM input/output_cost_per_audio_token).
  const core::PriceCatalog& c = builtinPriceCatalog();
  const ModelPrice& openai = entry(c, "gpt-4o-audio-preview");
  EXPECT_EQ(openai.rates.inputAudio(), 40'000'000);
  EXPECT_EQ(openai.rates.outputAudio(), 80'000'000);
  EXPECT_EQ(entry(c, "gemini-2.5-flash").rates.inputAudio(), 1'000'000);
  EXPECT_EQ(entry(c, "gemini-2.5-flash").rates.outputAudio(), 2'500'000);  // the output rate
  EXPECT_EQ(entry(c, "gemini-2.0-flash").rates.inputAudio(), 700'000);
  // A model without audio rates bills audio as text.
  EXPECT_EQ(entry(c, "gpt-4o").rates.inputAudio(), 2'500'000);
  EXPECT_EQ(entry(c, "gpt-4o").rates.outputAudio(), 10'000'000);
}

TEST(PriceCatalogLoader, AudioRatesInACatalogFileAndInConfigOverrides) {
  const auto parsed = parsePriceCatalog(R"(version: "t"
date: "2026-01-01"
models:
  voice:
    input: 1.00
    output: 2.00
    input_audio: 10.50
    output_audio: 20.25
    long_context: { above_input_tokens: 1000, input: 2.00, output: 4.00, input_audio: 21.00 }
    tiers:
      flex: { input: 0.50, output: 1.00, output_audio: 10.125 }
)",
                                        "t.yaml");
  ASSERT_TRUE(parsed.catalog) << parsed.errors.front();
  const ModelPrice& voice = entry(*parsed.catalog, "voice");
  EXPECT_EQ(voice.rates.inputAudio(), 10'500'000);
  EXPECT_EQ(voice.rates.outputAudio(), 20'250'000);
  ASSERT_TRUE(voice.long_context);
  EXPECT_EQ(voice.long_context->rates.inputAudio(), 21'000'000);
  EXPECT_EQ(voice.long_context->rates.outputAudio(), 4'000'000);
  EXPECT_EQ(voice.tiers.at("flex").outputAudio(), 10'125'000);
  EXPECT_FALSE(parsePriceCatalog("version: t\ndate: \"2026-01-01\"\nmodels:\n  m: {input: 1, "
                                 "output: 1, input_audio: -1}\n",
                                 "t.yaml")
                   .catalog);

  PricingConfig pricing;
  ModelPriceConfig voice_config;
  voice_config.input = 2.5;
  voice_config.cached_input = 2.5;
  voice_config.output = 10;
  voice_config.input_audio = 40;
  voice_config.output_audio = 80;
  pricing.models["my-voice"] = voice_config;
  auto built = buildPricer(pricing);
  ASSERT_TRUE(built.pricer) << built.errors.front();
  core::Usage u;
  u.model = "my-voice";
  u.input_tokens = 1000;
  u.audio_input_tokens = 800;
  u.output_tokens = 500;
  u.audio_output_tokens = 400;
  EXPECT_EQ(built.pricer->cost(u, "").amount, 65'500'000'000);  // 0.0655 USD, as the reference
}

TEST(PriceCatalogLoader, ShippedCatalogAnthropicWritesTiersAndLongContext) {
  const core::PriceCatalog& c = builtinPriceCatalog();
  for (const char* name :
       {"claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5", "claude-3-5-haiku-20241022"}) {
    const ModelPrice& p = entry(c, name);
    // 5-minute write = 1.25 x input, 1-hour write = 2 x input, $10 per 1000 searches
    EXPECT_EQ(p.rates.cacheWrite5m(), p.rates.input * 5 / 4) << name;
    EXPECT_EQ(p.rates.cacheWrite1h(), p.rates.input * 2) << name;
    EXPECT_EQ(p.web_search_per_call, 10'000'000'000) << name;
  }
  const ModelPrice& sonnet = entry(c, "claude-sonnet-4-5-20250929");
  ASSERT_TRUE(sonnet.long_context);
  EXPECT_EQ(sonnet.long_context->above_input_tokens, 200000);
  EXPECT_EQ(sonnet.long_context->rates.input, 6'000'000);
  EXPECT_EQ(sonnet.long_context->rates.cacheWrite1h(), 12'000'000);
  EXPECT_EQ(sonnet.long_context->rates.output, 22'500'000);
  const ModelPrice& pro = entry(c, "models/gemini-2.5-pro");
  ASSERT_TRUE(pro.long_context);
  EXPECT_EQ(pro.long_context->rates.input, 2'500'000);
  EXPECT_EQ(pro.long_context->rates.output, 15'000'000);
  const ModelPrice& gpt5 = entry(c, "gpt-5");
  ASSERT_EQ(gpt5.tiers.count("flex"), 1u);
  EXPECT_EQ(gpt5.tiers.at("flex").input, 625'000);
  // Unset tier cache rate scales with the tier: 125'000 x 625'000 / 1'250'000 = 62'500.
  EXPECT_EQ(gpt5.tiers.at("flex").cachedInput(), 62'500);
  EXPECT_EQ(gpt5.tiers.at("priority").output, 20'000'000);
}

TEST(PriceCatalogLoader, BuiltinPricesADatedSnapshotLikeItsAlias) {
  auto built = buildPricer(PricingConfig{});
  ASSERT_TRUE(built.pricer);
  core::Usage u;
  u.model = "gpt-4o-2024-08-06";
  u.input_tokens = 1000;
  u.output_tokens = 100;
  // 1000 x 2'500'000 + 100 x 10'000'000 = 2.5e9 + 1e9 picodollars
  const core::Cost cost = built.pricer->cost(u, "gpt-4o");
  EXPECT_EQ(cost.amount, 3'500'000'000);
  u.model = "gpt-4o-2024-05-13";
  // 1000 x 5'000'000 + 100 x 15'000'000 = 5e9 + 1.5e9
  EXPECT_EQ(built.pricer->cost(u, "gpt-4o").amount, 6'500'000'000);
}

TEST(PriceCatalogLoader, BuiltinPricesLegacyAliasAndPinnedNames) {
  // Under the default unknown_model: reject, each of these names was refused with 400
  // model_not_priced before catalog 2026.11.1.
  auto built = buildPricer(PricingConfig{});
  ASSERT_TRUE(built.pricer);
  const core::Pricer& p = *built.pricer;
  // name as the response reports it, catalog key, rule, then micro-USD per 1M tokens
  struct Row {
    const char* name;
    const char* key;
    const char* rule;
    core::Picodollars input, cached, output;
    std::int64_t max_output;
  };
  for (const Row& row : {
           // the audited names
           Row{"gemini-2.0-flash-001", "gemini/gemini-2.0-flash", "versioned-response", 100'000,
               25'000, 400'000, 8192},
           Row{"gemini-2.5-flash-lite", "gemini/gemini-2.5-flash-lite", "exact-response", 100'000,
               10'000, 400'000, 65536},
           Row{"gpt-3.5-turbo", "gpt-3.5-turbo", "exact-response", 500'000, 500'000, 1'500'000,
               4096},
           Row{"gpt-4-turbo", "gpt-4-turbo", "exact-response", 10'000'000, 10'000'000, 30'000'000,
               4096},
           Row{"o1", "o1", "exact-response", 15'000'000, 7'500'000, 60'000'000, 100000},
           Row{"o3-mini", "o3-mini", "exact-response", 1'100'000, 550'000, 4'400'000, 100000},
           Row{"chatgpt-4o-latest", "chatgpt-4o-latest", "exact-response", 5'000'000, 5'000'000,
               15'000'000, 4096},
           Row{"text-embedding-ada-002", "text-embedding-ada-002", "exact-response", 100'000,
               100'000, 0, 0},
           Row{"claude-3-7-sonnet-20250219", "claude-3-7-sonnet-20250219", "exact-response",
               3'000'000, 300'000, 15'000'000, 128000},
           // the same families' other common names
           Row{"gpt-4", "gpt-4", "exact-response", 30'000'000, 30'000'000, 60'000'000, 8192},
           Row{"gpt-4-0613", "gpt-4-0613", "exact-response", 30'000'000, 30'000'000, 60'000'000,
               8192},
           Row{"gpt-4-turbo-2024-04-09", "gpt-4-turbo", "dated-response", 10'000'000, 10'000'000,
               30'000'000, 4096},
           Row{"gpt-3.5-turbo-0125", "gpt-3.5-turbo-0125", "exact-response", 500'000, 500'000,
               1'500'000, 4096},
           Row{"o1-2024-12-17", "o1", "dated-response", 15'000'000, 7'500'000, 60'000'000, 100000},
           Row{"o1-pro", "o1-pro", "exact-response", 150'000'000, 150'000'000, 600'000'000, 100000},
           Row{"o3-mini-2025-01-31", "o3-mini", "dated-response", 1'100'000, 550'000, 4'400'000,
               100000},
           Row{"claude-3-7-sonnet-latest", "claude-3-7-sonnet-latest", "exact-response", 3'000'000,
               300'000, 15'000'000, 128000},
           Row{"claude-3-5-haiku-latest", "claude-3-5-haiku-latest", "exact-response", 800'000,
               80'000, 4'000'000, 8192},
           Row{"claude-3-5-sonnet-20241022", "claude-3-5-sonnet-20241022", "exact-response",
               3'000'000, 300'000, 15'000'000, 8192},
           Row{"claude-3-5-sonnet-20240620", "claude-3-5-sonnet-20240620", "exact-response",
               3'000'000, 300'000, 15'000'000, 8192},
           Row{"claude-3-5-sonnet-latest", "claude-3-5-sonnet-latest", "exact-response", 3'000'000,
               300'000, 15'000'000, 8192},
           Row{"claude-3-opus-20240229", "claude-3-opus-20240229", "exact-response", 15'000'000,
               1'500'000, 75'000'000, 4096},
           Row{"claude-3-opus-latest", "claude-3-opus-latest", "exact-response", 15'000'000,
               1'500'000, 75'000'000, 4096},
           Row{"claude-3-haiku-20240307", "claude-3-haiku-20240307", "exact-response", 250'000,
               30'000, 1'250'000, 4096},
           Row{"models/gemini-2.0-flash-lite-001", "gemini/gemini-2.0-flash-lite",
               "versioned-response", 75'000, 18'750, 300'000, 8192},
           Row{"gemini-2.5-pro-002", "gemini/gemini-2.5-pro", "versioned-response", 1'250'000,
               125'000, 10'000'000, 65536},
       }) {
    const auto match = p.resolve(row.name, "");
    ASSERT_TRUE(match) << row.name;
    EXPECT_EQ(match->model, row.key) << row.name;
    EXPECT_EQ(match->source, std::string("catalog:") + row.rule) << row.name;
    EXPECT_EQ(match->price->rates.input, row.input) << row.name;
    EXPECT_EQ(match->price->rates.cachedInput(), row.cached) << row.name;
    EXPECT_EQ(match->price->rates.output, row.output) << row.name;
    EXPECT_EQ(match->price->max_output_tokens, row.max_output) << row.name;
    // Admission: the same name as the request model is priced, not refused.
    core::Usage u;
    u.input_tokens = 10;
    u.output_tokens = 10;
    EXPECT_FALSE(p.cost(u, row.name).rejected) << row.name;
  }
  // Claude 3.x cache writes: 1.25 x / 2 x input, except Haiku 3's 5-minute write (1.2 x).
  const core::PriceCatalog& c = builtinPriceCatalog();
  for (const char* name :
       {"claude-3-7-sonnet-20250219", "claude-3-7-sonnet-latest", "claude-3-5-haiku-latest",
        "claude-3-5-sonnet-20241022", "claude-3-5-sonnet-20240620", "claude-3-5-sonnet-latest",
        "claude-3-opus-20240229", "claude-3-opus-latest", "claude-3-haiku-20240307"}) {
    const ModelPrice& price = entry(c, name);
    if (std::string_view(name) != "claude-3-haiku-20240307") {
      EXPECT_EQ(price.rates.cacheWrite5m(), price.rates.input * 5 / 4) << name;
    }
    EXPECT_EQ(price.rates.cacheWrite1h(), price.rates.input * 2) << name;
  }
  EXPECT_EQ(entry(c, "claude-3-haiku-20240307").rates.cacheWrite5m(), 300'000);
  EXPECT_EQ(entry(c, "claude-3-7-sonnet-20250219").web_search_per_call, 10'000'000'000);
  EXPECT_EQ(entry(c, "claude-3-opus-20240229").web_search_per_call, 0);
  EXPECT_EQ(entry(c, "o1-pro").tiers.at("batch").output, 300'000'000);
}

TEST(PriceCatalogLoader, BuiltinPricesModelsAddedIn2026_11_2) {
  // Under the default unknown_model: reject, each of these names was refused with 400
  // model_not_priced before catalog 2026.11.2.
  auto built = buildPricer(PricingConfig{});
  ASSERT_TRUE(built.pricer);
  const core::Pricer& p = *built.pricer;
  // name as the response reports it, catalog key, rule, micro-USD per 1M tokens (input, cached,
  // 5-minute write, 1-hour write, output), max output tokens
  struct Row {
    const char* name;
    const char* key;
    const char* rule;
    core::Picodollars input, cached, write5m, write1h, output;
    std::int64_t max_output;
  };
  for (const Row& row : {
           Row{"gpt-5.1", "gpt-5.1", "exact-response", 1'250'000, 125'000, 1'562'500, 2'500'000,
               10'000'000, 128000},
           Row{"gpt-5.1-2025-11-13", "gpt-5.1", "dated-response", 1'250'000, 125'000, 1'562'500,
               2'500'000, 10'000'000, 128000},
           Row{"gpt-5.4", "gpt-5.4", "exact-response", 2'500'000, 250'000, 3'125'000, 5'000'000,
               15'000'000, 128000},
           Row{"claude-opus-4-6", "claude-opus-4-6", "exact-response", 5'000'000, 500'000,
               6'250'000, 10'000'000, 25'000'000, 128000},
           Row{"claude-sonnet-4-6", "claude-sonnet-4-6", "exact-response", 3'000'000, 300'000,
               3'750'000, 6'000'000, 15'000'000, 128000},
           Row{"claude-opus-5", "claude-opus-5", "exact-response", 5'000'000, 500'000, 6'250'000,
               10'000'000, 25'000'000, 128000},
           Row{"claude-sonnet-5", "claude-sonnet-5", "exact-response", 2'000'000, 200'000,
               2'500'000, 4'000'000, 10'000'000, 128000},
           Row{"claude-opus-5-5", "claude-opus-5-5", "exact-response", 4'000'000, 200'000,
               5'000'000, 8'000'000, 20'000'000, 128000},
           Row{"claude-fable-5", "claude-fable-5", "exact-response", 10'000'000, 1'000'000,
               12'500'000, 20'000'000, 50'000'000, 128000},
           Row{"claude-fable-5-1", "claude-fable-5-1", "exact-response", 10'000'000, 250'000,
               12'500'000, 20'000'000, 50'000'000, 128000},
       }) {
    const auto match = p.resolve(row.name, "");
    ASSERT_TRUE(match) << row.name;
    EXPECT_EQ(match->model, row.key) << row.name;
    EXPECT_EQ(match->source, std::string("catalog:") + row.rule) << row.name;
    const core::TokenRates& r = match->price->rates;
    EXPECT_EQ(r.input, row.input) << row.name;
    EXPECT_EQ(r.cachedInput(), row.cached) << row.name;
    EXPECT_EQ(r.cacheWrite5m(), row.write5m) << row.name;
    EXPECT_EQ(r.cacheWrite1h(), row.write1h) << row.name;
    EXPECT_EQ(r.output, row.output) << row.name;
    EXPECT_EQ(match->price->max_output_tokens, row.max_output) << row.name;
    core::Usage u;
    u.input_tokens = 10;
    u.output_tokens = 10;
    EXPECT_FALSE(p.cost(u, row.name).rejected) << row.name;
  }
  // gpt-5.4 above 272K prompt tokens: 2 x input (cached input too), 1.5 x output, whole request.
  const ModelPrice& gpt54 = entry(builtinPriceCatalog(), "gpt-5.4");
  ASSERT_TRUE(gpt54.long_context);
  EXPECT_EQ(gpt54.long_context->above_input_tokens, 272000);
  EXPECT_EQ(gpt54.long_context->rates.input, 5'000'000);
  EXPECT_EQ(gpt54.long_context->rates.cachedInput(), 500'000);
  EXPECT_EQ(gpt54.long_context->rates.output, 22'500'000);
  core::Usage u;
  u.model = "gpt-5.4";
  u.input_tokens = 300'000;
  u.output_tokens = 1'000;
  // 300'000 x 5'000'000 + 1'000 x 22'500'000 = 1.5e12 + 2.25e10 picodollars
  EXPECT_EQ(p.cost(u, "gpt-5.4").amount, 1'522'500'000'000);
  // Not listed: no Google pricing page found for Gemini 3.x.
  EXPECT_FALSE(p.resolve("gemini-3-pro-preview", ""));
}

TEST(PriceCatalogLoader, ConfigOverridesAndPolicy) {
  PricingConfig pricing;
  ModelPriceConfig ft;
  ft.input = 0.30;
  ft.cached_input = 0.15;
  ft.output = 1.20;
  ft.max_output_tokens = 16384;
  pricing.models["ft:gpt-4o-mini:acme"] = ft;
  ModelPriceConfig cheaper;
  cheaper.input = 2.0;
  cheaper.cached_input = 2.0;
  cheaper.output = 8.0;
  pricing.models["gpt-4o"] = cheaper;
  pricing.unknown_model = PricingConfig::UnknownModel::Price;
  pricing.unknown_input = 1.0;
  pricing.unknown_output = 2.0;
  auto built = buildPricer(pricing);
  ASSERT_TRUE(built.pricer) << built.errors.front();
  const core::Pricer& p = *built.pricer;

  core::Usage u;
  u.input_tokens = 1000;
  u.output_tokens = 100;
  u.model = "ft:gpt-4o-mini:acme";
  // 1000 x 300'000 + 100 x 1'200'000 = 300e6 + 120e6
  core::Cost cost = p.cost(u, "");
  EXPECT_EQ(cost.amount, 420'000'000);
  EXPECT_EQ(cost.price_source, "config:exact-response");
  u.model = "gpt-4o";
  // 1000 x 2'000'000 + 100 x 8'000'000 = 2e9 + 0.8e9; the override keeps the catalog's cap
  EXPECT_EQ(p.cost(u, "").amount, 2'800'000'000);
  EXPECT_EQ(p.catalog().find("gpt-4o")->second->max_output_tokens, 16384);
  EXPECT_TRUE(p.catalog().find("gpt-4o")->second->tiers.empty());
  u.model = "mystery";
  // 1000 x 1'000'000 + 100 x 2'000'000 = 1e9 + 0.2e9
  cost = p.cost(u, "");
  EXPECT_EQ(cost.amount, 1'200'000'000);
  EXPECT_EQ(cost.price_source, "policy:price");
}

// Audit 13: an override spelled as the Gemini API spells models ("models/x") was kept under that
// spelling, which no look-up tries first: the catalog's "gemini/x" kept being charged, and a model
// the catalog lacks stayed unknown.
TEST(PriceCatalogLoader, GeminiOverridesMatchInAnySpelling) {
  ModelPriceConfig one;
  one.input = 1.0;
  one.cached_input = 1.0;
  one.output = 1.0;
  for (const char* spelling :
       {"models/gemini-2.5-flash", "gemini-2.5-flash", "gemini/gemini-2.5-flash"}) {
    PricingConfig pricing;
    pricing.models[spelling] = one;
    pricing.models["models/gemini-3-pro-preview"] = one;  // not in the catalog
    auto built = buildPricer(pricing);
    ASSERT_TRUE(built.pricer) << built.errors.front();
    for (const char* asked :
         {"gemini-2.5-flash", "models/gemini-2.5-flash", "gemini/gemini-2.5-flash",
          "gemini-3-pro-preview", "models/gemini-3-pro-preview", "gemini/gemini-3-pro-preview"}) {
      core::Usage u;
      u.model = asked;
      u.input_tokens = 1'000'000;
      u.output_tokens = 1'000'000;
      const core::Cost cost = built.pricer->cost(u, "");
      EXPECT_EQ(cost.amount, 2'000'000'000'000) << spelling << " asked as " << asked;
      EXPECT_EQ(cost.price_source.substr(0, 7), "config:") << spelling << " asked as " << asked;
    }
    // The catalog's output cap is kept for the override of a catalog model.
    EXPECT_EQ(built.pricer->catalog().find("gemini-2.5-flash")->second->max_output_tokens,
              builtinPriceCatalog().find("gemini-2.5-flash")->second->max_output_tokens);
  }

  // Two spellings of one model are one model twice.
  PricingConfig twice;
  twice.models["models/gemini-2.5-flash"] = one;
  twice.models["gemini-2.5-flash"] = one;
  auto built = buildPricer(twice);
  EXPECT_FALSE(built.pricer);
  ASSERT_EQ(built.errors.size(), 1u);
  EXPECT_NE(built.errors.front().find("names the same model as"), std::string::npos)
      << built.errors.front();
}

TEST(PriceCatalogLoader, CatalogFileFromConfig) {
  PricingConfig pricing;
  pricing.catalog = "/nonexistent/prices.yaml";
  auto built = buildPricer(pricing);
  EXPECT_FALSE(built.pricer);
  ASSERT_EQ(built.errors.size(), 1u);
  EXPECT_EQ(built.errors[0], "/nonexistent/prices.yaml: cannot read: No such file or directory");
  pricing.catalog = kShippedPath;
  EXPECT_TRUE(buildPricer(pricing).pricer);
}

TEST(PriceCatalogLoader, ErrorsCarryFileLineAndColumn) {
  const auto errors = errorsOf(
      "version: \"1\"\n"
      "date: 2026-13\n"
      "models:\n"
      "  a:\n"
      "    input: 2.5e0\n"
      "    output: 1.0\n"
      "    cached_inptu: 1\n"
      "  b:\n"
      "    output: 1\n"
      "  c:\n"
      "    input: 1\n"
      "    output: 0.0000001\n"
      "    long_context: {input: 2, output: 2}\n"
      "    max_output_tokens: -5\n");
  ASSERT_EQ(errors.size(), 7u);
  EXPECT_EQ(errors[0], "prices.yaml:2:7: date: expected a date YYYY-MM-DD, got '2026-13'");
  EXPECT_EQ(errors[1],
            "prices.yaml:5:12: models.a.input: '2.5e0' is not a price in USD per 1M tokens: a "
            "plain decimal with at most 6 decimals, e.g. 2.50");
  EXPECT_NE(errors[2].find("prices.yaml:7:5: "), std::string::npos) << errors[2];
  EXPECT_NE(errors[2].find("cached_inptu"), std::string::npos) << errors[2];
  EXPECT_EQ(errors[3], "prices.yaml:9:5: models.b: input is required");
  EXPECT_EQ(errors[4].rfind("prices.yaml:12:13: models.c.output: '0.0000001' is not", 0), 0u)
      << errors[4];
  EXPECT_EQ(errors[5], "prices.yaml:13:19: models.c.long_context: above_input_tokens is required");
  EXPECT_EQ(errors[6].rfind("prices.yaml:14:24: models.c.max_output_tokens: must be", 0), 0u)
      << errors[6];
}

TEST(PriceCatalogLoader, StructuralErrors) {
  EXPECT_EQ(errorsOf("models: {}\n"),
            (std::vector<std::string>{"prices.yaml:1:1: version is required",
                                      "prices.yaml:1:1: date is required"}));
  EXPECT_EQ(errorsOf(""),
            (std::vector<std::string>{"prices.yaml:1:1: the price catalog is empty"}));
  const auto syntax = errorsOf("version: [\n");
  ASSERT_EQ(syntax.size(), 1u);
  EXPECT_NE(syntax[0].find("YAML syntax error"), std::string::npos);
  EXPECT_TRUE(errorsOf("version: \"1\"\ndate: \"2026-01-01\"\nmodels: {}\n").empty());
  // Found by fuzzing: yaml-cpp's LoadAll looped forever on this (see config_errors_test.cpp).
  const auto stuck = errorsOf(",}\n");
  ASSERT_FALSE(stuck.empty());
  EXPECT_EQ(stuck[0], "prices.yaml:1:1: YAML syntax error: unexpected character");
}

}  // namespace
}  // namespace spendgate::config
