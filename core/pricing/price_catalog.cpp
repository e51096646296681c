#include "core/pricing/price_catalog.hpp"

#include <atomic>
#include <string>

namespace spendgate::core {

namespace {

bool allDigits(std::string_view s) {
  for (const char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return !s.empty();
}

constexpr std::string_view kModelsPrefix = "models/";
constexpr std::string_view kGeminiPrefix = "gemini/";

}  // namespace

PriceCatalog::PriceCatalog(const PriceCatalog& other)
    : version_(other.version_), date_(other.date_), models_(other.models_) {
  rebuildIndex();
}

PriceCatalog::PriceCatalog(PriceCatalog&& other) noexcept
    : version_(std::move(other.version_)),
      date_(std::move(other.date_)),
      models_(std::move(other.models_)) {
  rebuildIndex();
  other.rebuildIndex();
}

PriceCatalog& PriceCatalog::operator=(const PriceCatalog& other) {
  if (this != &other) {
    version_ = other.version_;
    date_ = other.date_;
    models_ = other.models_;
    rebuildIndex();
  }
  return *this;
}

PriceCatalog& PriceCatalog::operator=(PriceCatalog&& other) noexcept {
  if (this != &other) {
    version_ = std::move(other.version_);
    date_ = std::move(other.date_);
    models_ = std::move(other.models_);
    rebuildIndex();
    other.rebuildIndex();
  }
  return *this;
}

std::uint64_t PriceCatalog::nextGeneration() noexcept {
  static std::atomic<std::uint64_t> last{0};
  return last.fetch_add(1, std::memory_order_relaxed) + 1;
}

void PriceCatalog::rebuildIndex() noexcept {
  generation_ = nextGeneration();
  index_.clear();
  try {
    index_.reserve(models_.size());
    for (const Entry& entry : models_) index_.emplace(entry.first, &entry);
  } catch (...) {
    index_.clear();  // out of memory: findExact() falls back to the map
  }
}

void PriceCatalog::set(std::string model, ModelPrice price) {
  generation_ = nextGeneration();
  const auto it = models_.insert_or_assign(std::move(model), std::move(price)).first;
  try {
    index_[it->first] = &*it;
  } catch (...) {
    index_.clear();  // out of memory: findExact() falls back to the map
  }
}

const PriceCatalog::Entry* PriceCatalog::findExact(std::string_view model) const {
  // Each thread remembers its last answer, with the generation of the catalog it came from.
  struct Last {
    std::uint64_t generation = 0;  // no catalog's
    std::string model;
    const Entry* entry = nullptr;
  };
  thread_local Last last;
  if (last.generation == generation_ && last.model == model) return last.entry;
  const Entry* entry = lookUp(model);
  last.generation = generation_;
  last.model.assign(model);
  last.entry = entry;
  return entry;
}

const PriceCatalog::Entry* PriceCatalog::lookUp(std::string_view model) const {
  // The index only holds models_'s keys, so the same size means it holds them all.
  if (index_.size() == models_.size()) {
    const auto it = index_.find(model);
    return it == index_.end() ? nullptr : it->second;
  }
  const auto it = models_.find(model);  // the index could not be built
  return it == models_.end() ? nullptr : &*it;
}

std::optional<std::pair<const std::string*, const ModelPrice*>> PriceCatalog::find(
    std::string_view model) const {
  if (model.empty()) return std::nullopt;
  if (const auto* hit = findExact(model)) return std::pair{&hit->first, &hit->second};
  // Gemini: the API says "models/x", LiteLLM-style catalogs say "gemini/x".
  std::string_view bare = model;
  if (bare.substr(0, kModelsPrefix.size()) == kModelsPrefix)
    bare.remove_prefix(kModelsPrefix.size());
  if (bare.substr(0, kGeminiPrefix.size()) == kGeminiPrefix)
    bare.remove_prefix(kGeminiPrefix.size());
  if (bare != model) {
    if (const auto* hit = findExact(bare)) return std::pair{&hit->first, &hit->second};
  }
  if (bare.substr(0, 7) == "gemini-") {
    const std::string prefixed = std::string(kGeminiPrefix) + std::string(bare);
    if (const auto* hit = findExact(prefixed)) return std::pair{&hit->first, &hit->second};
  }
  return std::nullopt;
}

std::optional<std::string_view> stripDateSuffix(std::string_view model) {
  // A plausible calendar date only, so "model-12345678" keeps its digits.
  const auto plausible = [](std::string_view y, std::string_view m, std::string_view d) {
    if (!allDigits(y) || !allDigits(m) || !allDigits(d)) return false;
    const auto number = [](std::string_view digits) {
      int value = 0;
      for (const char c : digits) value = value * 10 + (c - '0');
      return value;
    };
    const int year = number(y);
    const int month = number(m);
    const int day = number(d);
    return year >= 2000 && year <= 2099 && month >= 1 && month <= 12 && day >= 1 && day <= 31;
  };
  // -YYYY-MM-DD
  if (model.size() > 11) {
    const std::string_view tail = model.substr(model.size() - 11);
    if (tail[0] == '-' && tail[5] == '-' && tail[8] == '-' &&
        plausible(tail.substr(1, 4), tail.substr(6, 2), tail.substr(9, 2))) {
      return model.substr(0, model.size() - 11);
    }
  }
  // -YYYYMMDD
  if (model.size() > 9) {
    const std::string_view tail = model.substr(model.size() - 9);
    if (tail[0] == '-' && plausible(tail.substr(1, 4), tail.substr(5, 2), tail.substr(7, 2))) {
      return model.substr(0, model.size() - 9);
    }
  }
  return std::nullopt;
}

std::optional<std::string_view> stripGeminiVersionSuffix(std::string_view model) {
  std::string_view bare = model;
  if (bare.substr(0, kModelsPrefix.size()) == kModelsPrefix)
    bare.remove_prefix(kModelsPrefix.size());
  if (bare.substr(0, kGeminiPrefix.size()) == kGeminiPrefix)
    bare.remove_prefix(kGeminiPrefix.size());
  constexpr std::string_view kFamily = "gemini-";
  constexpr std::size_t kSuffix = 4;  // "-001"
  // Something must stay between "gemini-" and the suffix: "gemini-001" is not a version of
  // "gemini".
  if (bare.substr(0, kFamily.size()) != kFamily || bare.size() <= kFamily.size() + kSuffix)
    return std::nullopt;
  const std::string_view tail = bare.substr(bare.size() - kSuffix);
  if (tail[0] != '-' || !allDigits(tail.substr(1))) return std::nullopt;
  if (bare[bare.size() - kSuffix - 1] == '-') return std::nullopt;  // "gemini-x--001"
  return model.substr(0, model.size() - kSuffix);
}

}  // namespace spendgate::core
