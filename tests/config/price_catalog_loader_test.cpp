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
}

}  // namespace
}  // namespace spendgate::config
