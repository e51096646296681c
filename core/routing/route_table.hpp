#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/provider/provider_format.hpp"

namespace spendgate::core {

/**
 * What a request says about the API it calls apart from its path: the header every Anthropic
 * client sends (`anthropic-version`), or Gemini's key header (`x-goog-api-key`).
 */
enum class ApiHint : std::uint8_t { None, Anthropic, Gemini };

/**
 * Maps request paths to providers by prefix; the longest matching prefix wins, so
 * "/v1/messages" can go to Anthropic while every other "/v1/" path goes to OpenAI.
 *
 * Anthropic's and Gemini's APIs share that "/v1/" with OpenAI's (`GET /v1/models`, `/v1/files`,
 * Gemini's `v1` methods). A request that names its API by a hint and whose path routes to a
 * provider of another format goes to the one provider of the hinted format, when there is
 * exactly one: otherwise the Anthropic SDK's `models.list()` would reach the OpenAI upstream,
 * carrying the caller's Anthropic key.
 */
class RouteTable {
public:
  /** Adds a prefix routed to the provider at `provider_index`, which speaks `format`. */
  void add(std::string prefix, std::size_t provider_index, ProviderFormat format);

  /** @return the provider index for a request target (query ignored), or nullopt. */
  std::optional<std::size_t> match(std::string_view target, ApiHint hint = ApiHint::None) const;

  /** @return whether a hint could move a request that its path routes to `provider_index`. */
  bool hintMatters(std::size_t provider_index) const;

private:
  struct Route {
    std::string prefix;
    std::size_t provider_index;
    ProviderFormat format;
  };
  /** The one provider of a hinted format: none, or several (then hints move nothing). */
  struct Sole {
    std::optional<std::size_t> index;
    bool several = false;
  };
  std::optional<std::size_t> soleFor(ApiHint hint) const;

  std::vector<Route> routes_;  // kept longest prefix first
  std::array<Sole, 2> sole_;   // Anthropic, Gemini
};

}  // namespace spendgate::core
