#include "config/price_catalog_loader.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "config/yaml_reader.hpp"
#include "core/pricing/money.hpp"

namespace spendgate::config {

namespace {

using core::Picodollars;

constexpr std::int64_t kMaxOutputTokensLimit = 100'000'000;
constexpr std::string_view kModelsPrefix = "models/";
constexpr std::int64_t kMaxThresholdTokens = 1'000'000'000;

/** Reads one catalog document into a PriceCatalog; problems go to the reader. */
class CatalogParser {
public:
  explicit CatalogParser(YamlReader& reader) : r_(reader) {}

  core::PriceCatalog parse(const YAML::Node& root) {
    core::PriceCatalog catalog;
    const YamlValue top{root, root.Mark(), ""};
    auto m = r_.map(top, {"version", "date", "models"});
    if (!m) return catalog;
    std::string version;
    std::string date;
    if (const auto* v = m->find("version")) {
      if (auto text = r_.string(*v)) version = *text;
    } else {
      r_.error(top, "version is required");
    }
    if (const auto* v = m->find("date")) {
      if (auto text = r_.string(*v)) {
        if (!isIsoDate(*text)) r_.error(*v, "expected a date YYYY-MM-DD, got '" + *text + "'");
        date = *text;
      }
    } else {
      r_.error(top, "date is required");
    }
    catalog = core::PriceCatalog(version, date);
    const auto* models_value = m->find("models");
    if (models_value == nullptr) {
      r_.error(top, "models is required");
      return catalog;
    }
    auto models = r_.freeMap(*models_value);
    if (!models) return catalog;
    for (const YamlMap::Entry& entry : models->entries()) {
      const std::string& name = entry.key.node.Scalar();
      if (name.empty()) {
        r_.error(entry.key.mark, "model names must not be empty");
        continue;
      }
      if (auto price = parseModel(entry.value)) catalog.set(name, std::move(*price));
    }
    return catalog;
  }

private:
  static bool isIsoDate(std::string_view s) {
    if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
    for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
      if (s[i] < '0' || s[i] > '9') return false;
    }
    return true;
  }

  std::optional<Picodollars> price(const YamlValue& value) { return r_.usdPerMillion(value); }

  // Reads the rate keys of `m` into `rates`; `required` says whether input/output must be there.
  bool rates(const YamlMap& m, core::TokenRates& rates, bool required) {
    bool ok = true;
    for (auto [key, slot] :
         {std::pair{"input", &rates.input}, std::pair{"output", &rates.output}}) {
      if (const auto* v = m.find(key)) {
        if (auto p = price(*v)) {
          *slot = *p;
        } else {
          ok = false;
        }
      } else if (required) {
        r_.error(m.self(), std::string(key) + " is required");
        ok = false;
      }
    }
    for (auto [key, slot] : {std::pair{"cached_input", &rates.cached_input},
                             std::pair{"cache_write_5m", &rates.cache_write_5m},
                             std::pair{"cache_write_1h", &rates.cache_write_1h},
                             std::pair{"input_audio", &rates.input_audio},
                             std::pair{"output_audio", &rates.output_audio}}) {
      if (const auto* v = m.find(key)) {
        if (auto p = price(*v)) {
          *slot = *p;
        } else {
          ok = false;
        }
      }
    }
    return ok;
  }

  std::optional<core::ModelPrice> parseModel(const YamlValue& value) {
    auto m = r_.map(value, {"input", "cached_input", "cache_write_5m", "cache_write_1h", "output",
                            "input_audio", "output_audio", "max_output_tokens", "web_search_per_1k",
                            "long_context", "tiers"});
    if (!m) return std::nullopt;
    core::ModelPrice model;
    bool ok = rates(*m, model.rates, true);
    if (const auto* v = m->find("max_output_tokens")) {
      if (auto n = r_.integer(*v, 0, kMaxOutputTokensLimit)) {
        model.max_output_tokens = *n;
      } else {
        ok = false;
      }
    }
    if (const auto* v = m->find("web_search_per_1k")) {
      // USD per 1000 calls in micro-USD x 1000 = picodollars per call.
      if (auto p = price(*v)) {
        model.web_search_per_call = *p * 1000;
      } else {
        ok = false;
      }
    }
    if (const auto* v = m->find("long_context")) {
      auto lc = r_.map(*v, {"above_input_tokens", "input", "cached_input", "cache_write_5m",
                            "cache_write_1h", "output", "input_audio", "output_audio"});
      if (!lc) return std::nullopt;
      core::LongContextRates long_context;
      ok = rates(*lc, long_context.rates, true) && ok;
      if (const auto* t = lc->find("above_input_tokens")) {
        if (auto n = r_.integer(*t, 1, kMaxThresholdTokens)) {
          long_context.above_input_tokens = *n;
        } else {
          ok = false;
        }
      } else {
        r_.error(lc->self(), "above_input_tokens is required");
        ok = false;
      }
      model.long_context = long_context;
    }
    if (const auto* v = m->find("tiers")) {
      auto tiers = r_.freeMap(*v);
      if (!tiers) return std::nullopt;
      for (const YamlMap::Entry& entry : tiers->entries()) {
        auto tier =
            r_.map(entry.value, {"input", "cached_input", "cache_write_5m", "cache_write_1h",
                                 "output", "input_audio", "output_audio"});
        if (!tier) {
          ok = false;
          continue;
        }
        core::TokenRates tier_rates;
        if (!rates(*tier, tier_rates, true)) {
          ok = false;
          continue;
        }
        if (!tier_rates.cached_input && model.rates.input > 0) {
          // Tiers discount (or mark up) every input rate alike: scale the base cache-read rate.
          tier_rates.cached_input =
              static_cast<Picodollars>(static_cast<__int128>(model.rates.cachedInput()) *
                                       tier_rates.input / model.rates.input);
        }
        model.tiers.insert_or_assign(entry.key.node.Scalar(), tier_rates);
      }
    }
    if (!ok) return std::nullopt;
    return model;
  }

  YamlReader& r_;
};

}  // namespace

PriceCatalogResult parsePriceCatalog(const std::string& yaml, const std::string& source_name) {
  YamlReader reader(source_name);
  core::PriceCatalog catalog;
  try {
    const YAML::Node document = reader.loadSingleDocument(yaml);
    if (document.IsNull()) {
      reader.error(YAML::Mark(), "the price catalog is empty");
    } else {
      catalog = CatalogParser(reader).parse(document);
    }
  } catch (const YAML::ParserException& e) {
    reader.syntaxError(yaml, e.mark, e.msg);
  } catch (const YAML::Exception& e) {
    reader.error(e.mark, "YAML error: " + e.msg);
  }
  PriceCatalogResult result;
  if (reader.hasErrors()) {
    result.errors = reader.takeErrors();
  } else {
    result.catalog = std::move(catalog);
  }
  return result;
}

PriceCatalogResult loadPriceCatalog(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    PriceCatalogResult result;
    result.errors.push_back(path + ": cannot read: " + std::strerror(errno));
    return result;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parsePriceCatalog(text.str(), path);
}

const core::PriceCatalog& builtinPriceCatalog() {
  // The embedded text is checked by price_catalog_loader_test, so this cannot fail in a tested
  // build; an empty catalog is the fallback rather than a crash.
  static const core::PriceCatalog catalog = [] {
    auto result = parsePriceCatalog(std::string(builtinPriceCatalogYaml()), "builtin:pricing.yaml");
    return result.catalog ? std::move(*result.catalog) : core::PriceCatalog();
  }();
  return catalog;
}

std::optional<core::ModelPrice> modelPriceFromConfig(const ModelPriceConfig& config) {
  const auto input = core::ratePerTokenFromUsdPerMillion(config.input);
  const auto cached = core::ratePerTokenFromUsdPerMillion(config.cached_input);
  const auto output = core::ratePerTokenFromUsdPerMillion(config.output);
  if (!input || !cached || !output) return std::nullopt;
  core::ModelPrice price;
  price.origin = core::PriceOrigin::Config;
  price.rates.input = *input;
  price.rates.cached_input = *cached;
  price.rates.output = *output;
  for (auto [from, to] : {std::pair{&config.cache_write_5m, &price.rates.cache_write_5m},
                          std::pair{&config.cache_write_1h, &price.rates.cache_write_1h},
                          std::pair{&config.input_audio, &price.rates.input_audio},
                          std::pair{&config.output_audio, &price.rates.output_audio}}) {
    if (!*from) continue;
    const auto rate = core::ratePerTokenFromUsdPerMillion(**from);
    if (!rate) return std::nullopt;
    *to = *rate;
  }
  price.max_output_tokens = static_cast<std::int64_t>(
      std::min<std::uint64_t>(config.max_output_tokens, kMaxOutputTokensLimit));
  return price;
}

PricerResult buildPricer(const PricingConfig& pricing) {
  PricerResult result;
  core::PriceCatalog catalog;
  if (pricing.catalog.empty() || pricing.catalog == "builtin") {
    catalog = builtinPriceCatalog();
  } else {
    auto loaded = loadPriceCatalog(pricing.catalog);
    if (!loaded.catalog) {
      result.errors = std::move(loaded.errors);
      return result;
    }
    catalog = std::move(*loaded.catalog);
  }
  // Which override took each catalog name, to refuse two spellings of one model.
  std::map<std::string, std::string, std::less<>> overridden_by;
  for (const auto& [name, override_config] : pricing.models) {
    auto price = modelPriceFromConfig(override_config);
    if (!price) {
      result.errors.push_back("pricing.models." + name + ": price out of range");
      continue;
    }
    // Gemini names match in any spelling (models/x, gemini/x, x): an override replaces the entry
    // its name finds, whatever spelling the catalog keeps it under, and one the catalog lacks is
    // kept without "models/", where every spelling finds it.
    std::string key = name;
    const auto existing = catalog.find(name);
    if (existing) {
      key = *existing->first;
    } else if (key.starts_with(kModelsPrefix)) {
      key.erase(0, kModelsPrefix.size());
    }
    if (const auto [it, added] = overridden_by.emplace(key, name); !added) {
      result.errors.push_back("pricing.models." + name + ": names the same model as '" +
                              it->second + "'");
      continue;
    }
    if (price->max_output_tokens == 0 && existing) {
      price->max_output_tokens = existing->second->max_output_tokens;
    }
    catalog.set(std::move(key), std::move(*price));
  }
  if (!result.errors.empty()) return result;

  core::UnknownModelPolicy policy;
  switch (pricing.unknown_model) {
    case PricingConfig::UnknownModel::Reject:
      policy.kind = core::UnknownModelPolicy::Kind::Reject;
      break;
    case PricingConfig::UnknownModel::Allow:
      policy.kind = core::UnknownModelPolicy::Kind::Allow;
      break;
    case PricingConfig::UnknownModel::Price: {
      policy.kind = core::UnknownModelPolicy::Kind::Price;
      const auto input = core::ratePerTokenFromUsdPerMillion(pricing.unknown_input);
      const auto output = core::ratePerTokenFromUsdPerMillion(pricing.unknown_output);
      if (!input || !output) {
        result.errors.push_back("pricing.unknown_model.price: price out of range");
        return result;
      }
      policy.rates.input = *input;
      policy.rates.output = *output;
      break;
    }
  }
  result.pricer = std::make_shared<const core::Pricer>(std::move(catalog), policy);
  return result;
}

}  // namespace spendgate::config
