#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace spendgate::core {

/**
 * Maps request paths to providers by prefix; the longest matching prefix wins, so
 * "/v1/messages" can go to Anthropic while every other "/v1/" path goes to OpenAI.
 */
class RouteTable {
public:
  /** Adds a prefix routed to the provider at `provider_index`. */
  void add(std::string prefix, std::size_t provider_index);

  /** @return the provider index for a request target (query ignored), or nullopt. */
  std::optional<std::size_t> match(std::string_view target) const;

private:
  struct Route {
    std::string prefix;
    std::size_t provider_index;
  };
  std::vector<Route> routes_;  // kept longest prefix first
};

}  // namespace spendgate::core
