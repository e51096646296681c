#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "core/pricing/price_catalog.hpp"
#include "core/pricing/pricer.hpp"

namespace spendgate::config {

/** Either a catalog (errors empty) or every problem found. */
struct PriceCatalogResult {
  std::optional<core::PriceCatalog> catalog;
  std::vector<std::string> errors;  // "FILE:LINE:COL: path: message", 1-based
};

/**
 * Reads a price catalog file in the shape of config/pricing.yaml (`version`, `date`, `models`).
 * A missing or unreadable file gives the single error "PATH: cannot read: <reason>".
 */
PriceCatalogResult loadPriceCatalog(const std::string& path);

/** Parses catalog YAML text; `source_name` is the FILE in error messages. */
PriceCatalogResult parsePriceCatalog(const std::string& yaml, const std::string& source_name);

/** @return the catalog compiled into the binary from config/pricing.yaml (parsed once). */
const core::PriceCatalog& builtinPriceCatalog();

/** @return the text of config/pricing.yaml as compiled in. */
std::string_view builtinPriceCatalogYaml();

/**
 * @return a config override (`pricing.models.<name>`) as a catalog entry with PriceOrigin::Config,
 * or nullopt when a price is out of range.
 */
std::optional<core::ModelPrice> modelPriceFromConfig(const ModelPriceConfig& config);

/** Either a pricer (errors empty) or the problems found. */
struct PricerResult {
  std::shared_ptr<const core::Pricer> pricer;
  std::vector<std::string> errors;
};

/**
 * Builds the pricer the proxy uses: the catalog (`builtin` or a file), the `models` overrides
 * and additions on top, and the `unknown_model` policy. An override replaces the catalog's
 * rates, long-context and tier variants for that name and keeps its max_output_tokens unless it
 * sets one.
 */
PricerResult buildPricer(const PricingConfig& pricing);

}  // namespace spendgate::config
