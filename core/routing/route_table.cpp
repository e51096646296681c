#include "core/routing/route_table.hpp"

#include <algorithm>

namespace spendgate::core {

void RouteTable::add(std::string prefix, std::size_t provider_index) {
  routes_.push_back({std::move(prefix), provider_index});
  std::stable_sort(routes_.begin(), routes_.end(), [](const Route& a, const Route& b) {
    return a.prefix.size() > b.prefix.size();
  });
}

std::optional<std::size_t> RouteTable::match(std::string_view target) const {
  const std::string_view path = target.substr(0, target.find('?'));
  for (const Route& route : routes_) {
    if (path.starts_with(route.prefix)) return route.provider_index;
  }
  return std::nullopt;
}

}  // namespace spendgate::core
