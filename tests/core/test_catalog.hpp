#pragma once

#include "core/pricing/price_catalog.hpp"

namespace spendgate::core::testing {

/**
 * A catalog built in code (independent of config/pricing.yaml) with the rates of
 * provider-usage.md §7 for the models the core tests use.
 */
inline PriceCatalog testCatalog() {
  PriceCatalog catalog("test-1", "2026-01-01");
  auto openai = [&](const char* name, Picodollars in, Picodollars cached, Picodollars out,
                    std::int64_t max_out) {
    ModelPrice p;
    p.rates.input = in;
    p.rates.cached_input = cached;
    p.rates.output = out;
    p.max_output_tokens = max_out;
    catalog.set(name, p);
  };
  openai("gpt-4o-mini", 150'000, 75'000, 600'000, 16384);
  openai("gpt-4.1", 2'000'000, 500'000, 8'000'000, 32768);
  openai("gpt-3.5-turbo-instruct", 1'500'000, 1'500'000, 2'000'000, 4096);
  openai("text-embedding-3-small", 20'000, 20'000, 0, 0);
  {
    ModelPrice p;
    p.rates = {2'500'000,  1'250'000,    std::nullopt, std::nullopt,
               10'000'000, std::nullopt, std::nullopt};
    p.max_output_tokens = 16384;
    p.tiers["priority"] = {4'250'000,  2'125'000,    std::nullopt, std::nullopt,
                           17'000'000, std::nullopt, std::nullopt};
    catalog.set("gpt-4o", p);
    ModelPrice snapshot;
    snapshot.rates = {5'000'000,  std::nullopt, std::nullopt, std::nullopt,
                      15'000'000, std::nullopt, std::nullopt};
    snapshot.max_output_tokens = 4096;
    catalog.set("gpt-4o-2024-05-13", snapshot);
  }
  {
    ModelPrice p;
    p.rates = {1'250'000,  125'000,      std::nullopt, std::nullopt,
               10'000'000, std::nullopt, std::nullopt};
    p.max_output_tokens = 128000;
    p.tiers["flex"] = {625'000,   62'500,       std::nullopt, std::nullopt,
                       5'000'000, std::nullopt, std::nullopt};
    catalog.set("gpt-5", p);
  }
  auto claude = [](Picodollars in, Picodollars out, std::int64_t max_out) {
    ModelPrice p;
    // cache read 0.1x, 5-minute write 1.25x, 1-hour write 2x input
    p.rates = {in, in / 10, in * 5 / 4, in * 2, out, std::nullopt, std::nullopt};
    p.web_search_per_call = 10'000'000'000;  // 10 USD per 1000 searches = 0.01 USD each
    p.max_output_tokens = max_out;
    return p;
  };
  {
    ModelPrice sonnet = claude(3'000'000, 15'000'000, 64000);
    sonnet.long_context = LongContextRates{
        200000,
        {6'000'000, 600'000, 7'500'000, 12'000'000, 22'500'000, std::nullopt, std::nullopt}};
    catalog.set("claude-sonnet-4-5", sonnet);
    catalog.set("claude-sonnet-4-5-20250929", sonnet);
  }
  catalog.set("claude-opus-4-1", claude(15'000'000, 75'000'000, 32000));
  catalog.set("claude-haiku-4-5-20251001", claude(1'000'000, 5'000'000, 64000));
  {
    ModelPrice pro;
    pro.rates = {1'250'000,  125'000,      std::nullopt, std::nullopt,
                 10'000'000, std::nullopt, std::nullopt};
    pro.long_context = LongContextRates{
        200000,
        {2'500'000, 250'000, std::nullopt, std::nullopt, 15'000'000, std::nullopt, std::nullopt}};
    pro.max_output_tokens = 65536;
    catalog.set("gemini/gemini-2.5-pro", pro);
    ModelPrice flash;
    flash.rates = {300'000,   30'000,       std::nullopt, std::nullopt,
                   2'500'000, std::nullopt, std::nullopt};
    flash.max_output_tokens = 65536;
    catalog.set("gemini/gemini-2.5-flash", flash);
  }
  return catalog;
}

}  // namespace spendgate::core::testing
