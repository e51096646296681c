#include "core/routing/route_table.hpp"

#include <algorithm>

namespace spendgate::core {

namespace {

std::optional<ProviderFormat> hintedFormat(ApiHint hint) {
  switch (hint) {
    case ApiHint::Anthropic:
      return ProviderFormat::Anthropic;
    case ApiHint::Gemini:
      return ProviderFormat::Gemini;
    case ApiHint::None:
      break;
  }
  return std::nullopt;
}

}  // namespace

void RouteTable::add(std::string prefix, std::size_t provider_index, ProviderFormat format) {
  routes_.push_back({std::move(prefix), provider_index, format});
  std::stable_sort(routes_.begin(), routes_.end(), [](const Route& a, const Route& b) {
    return a.prefix.size() > b.prefix.size();
  });
  for (const ApiHint hint : {ApiHint::Anthropic, ApiHint::Gemini}) {
    if (format != hintedFormat(hint)) continue;
    Sole& sole = sole_[hint == ApiHint::Anthropic ? 0 : 1];
    if (sole.index && *sole.index != provider_index) sole.several = true;
    sole.index = provider_index;
  }
}

std::optional<std::size_t> RouteTable::soleFor(ApiHint hint) const {
  if (hint == ApiHint::None) return std::nullopt;
  const Sole& sole = sole_[hint == ApiHint::Anthropic ? 0 : 1];
  if (sole.several) return std::nullopt;
  return sole.index;
}

std::optional<std::size_t> RouteTable::match(std::string_view target, ApiHint hint) const {
  const std::string_view path = target.substr(0, target.find('?'));
  for (const Route& route : routes_) {
    if (!path.starts_with(route.prefix)) continue;
    if (route.format == hintedFormat(hint)) return route.provider_index;
    return soleFor(hint).value_or(route.provider_index);
  }
  return std::nullopt;  // a hint does not route a path no provider claims
}

bool RouteTable::hintMatters(std::size_t provider_index) const {
  for (const Route& route : routes_) {
    if (route.provider_index != provider_index) continue;
    return (route.format != ProviderFormat::Anthropic && soleFor(ApiHint::Anthropic)) ||
           (route.format != ProviderFormat::Gemini && soleFor(ApiHint::Gemini));
  }
  return false;
}

}  // namespace spendgate::core
