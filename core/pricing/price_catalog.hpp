#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/pricing/model_price.hpp"

namespace spendgate::core {

/**
 * Model name -> price, plus the catalog's version and date (shown by `spendgate version`).
 * Built by config/price_catalog_loader from config/pricing.yaml or a user catalog; config
 * overrides are set() on top with PriceOrigin::Config.
 */
class PriceCatalog {
public:
  PriceCatalog() = default;
  PriceCatalog(std::string version, std::string date)
      : version_(std::move(version)), date_(std::move(date)) {}
  // The lookup index points into models_: every copy and move rebuilds it.
  PriceCatalog(const PriceCatalog& other);
  PriceCatalog(PriceCatalog&& other) noexcept;
  PriceCatalog& operator=(const PriceCatalog& other);
  PriceCatalog& operator=(PriceCatalog&& other) noexcept;
  ~PriceCatalog() = default;

  const std::string& version() const { return version_; }
  const std::string& date() const { return date_; }

  /** Adds or replaces a model's price. */
  void set(std::string model, ModelPrice price);

  /**
   * Exact lookup, tolerant of Gemini spellings: "models/gemini-2.5-flash", "gemini-2.5-flash" and
   * "gemini/gemini-2.5-flash" all find an entry stored under any of them.
   * @return the entry and the key it is stored under, or nullopt.
   */
  std::optional<std::pair<const std::string*, const ModelPrice*>> find(
      std::string_view model) const;

  std::size_t size() const { return models_.size(); }
  const std::map<std::string, ModelPrice, std::less<>>& models() const { return models_; }

private:
  using Entry = std::pair<const std::string, ModelPrice>;
  struct NameHash {
    std::size_t operator()(std::string_view name) const noexcept {
      return std::hash<std::string_view>{}(name);
    }
  };

  const Entry* findExact(std::string_view model) const;
  const Entry* lookUp(std::string_view model) const;
  void rebuildIndex() noexcept;
  /** A number no catalog had before: a catalog gets a new one whenever its entries change. */
  static std::uint64_t nextGeneration() noexcept;

  std::string version_;
  std::string date_;
  std::map<std::string, ModelPrice, std::less<>> models_;
  /** models_ by name, for lookups in O(1) on the request path (keys view models_'s keys). */
  std::unordered_map<std::string_view, const Entry*, NameHash> index_;
  /**
   * Names this catalog with its current entries, for each thread's memo of its last look-up
   * (findExact): a request looks the same model up several times (admission, worst case, cost).
   * Never 0 and never reused, so a memo of another catalog, or of this one before a change
   * (set, copy, move), never matches.
   */
  std::uint64_t generation_ = nextGeneration();
};

/**
 * @return the name without a trailing snapshot date ("-2024-08-06" or "-20250929"), or nullopt
 * when it has none.
 */
std::optional<std::string_view> stripDateSuffix(std::string_view model);

/**
 * Google's pinned Gemini versions: "gemini-2.0-flash-001" and "models/gemini-1.5-pro-002" name
 * the stable model "gemini-2.0-flash" / "gemini-1.5-pro".
 * @return the name without a trailing "-" and exactly three digits, for names that start with
 * "gemini-" (after an optional "models/" or "gemini/" prefix, which is kept); nullopt otherwise.
 */
std::optional<std::string_view> stripGeminiVersionSuffix(std::string_view model);

}  // namespace spendgate::core
