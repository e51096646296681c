#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/enforcement/request_attributes.hpp"

namespace spendgate::core {

/** A request attribute that `match:` can filter on and that a non-global `scope:` charges to. */
enum class Dimension { Provider, Model, Key, User, Team, Customer, Agent };

/** Whose counter a rule charges (SPEC §2 `scope`). */
enum class Scope { Global, Provider, Model, Key, User, Team, Customer, Agent };

/** @return the YAML spelling ("provider", "model", ...). */
std::string_view dimensionName(Dimension dimension);

/** @return the dimension spelled `name` in YAML, or nullopt. */
std::optional<Dimension> dimensionFromName(std::string_view name);

/** @return the YAML spelling ("global", "key", ...). */
std::string_view scopeName(Scope scope);

/** @return the scope spelled `name` in YAML, or nullopt. */
std::optional<Scope> scopeFromName(std::string_view name);

/** @return the dimension a scope charges to; nullopt for Scope::Global. */
std::optional<Dimension> scopeDimension(Scope scope);

/** @return the request's value of `dimension` ("" when it lacks it). */
const std::string& attributeValue(const RequestAttributes& attributes, Dimension dimension);

/**
 * The counter subject a request charges under `scope`: "" for global, the attribute's value
 * otherwise, and kMissingSubject when the request lacks that attribute (scope: user, no user):
 * such requests share one counter instead of escaping the rule.
 */
std::string counterSubject(Scope scope, const RequestAttributes& attributes);

/** Subject of the shared counter for requests without the scope's attribute. */
inline constexpr std::string_view kMissingSubject = "-";

}  // namespace spendgate::core
