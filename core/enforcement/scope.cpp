#include "core/enforcement/scope.hpp"

#include <array>

namespace spendgate::core {

namespace {

constexpr std::array<std::string_view, 7> kDimensionNames = {"provider", "model",    "key",  "user",
                                                             "team",     "customer", "agent"};

}  // namespace

std::string_view dimensionName(Dimension dimension) {
  return kDimensionNames[static_cast<std::size_t>(dimension)];
}

std::optional<Dimension> dimensionFromName(std::string_view name) {
  for (std::size_t i = 0; i < kDimensionNames.size(); ++i) {
    if (kDimensionNames[i] == name) return static_cast<Dimension>(i);
  }
  return std::nullopt;
}

std::string_view scopeName(Scope scope) {
  if (scope == Scope::Global) return "global";
  return dimensionName(*scopeDimension(scope));
}

std::optional<Scope> scopeFromName(std::string_view name) {
  if (name == "global") return Scope::Global;
  const auto dimension = dimensionFromName(name);
  if (!dimension) return std::nullopt;
  // Scope lists Global first, then the dimensions in Dimension order.
  return static_cast<Scope>(static_cast<int>(*dimension) + 1);
}

std::optional<Dimension> scopeDimension(Scope scope) {
  switch (scope) {
    case Scope::Global:
      return std::nullopt;
    case Scope::Provider:
      return Dimension::Provider;
    case Scope::Model:
      return Dimension::Model;
    case Scope::Key:
      return Dimension::Key;
    case Scope::User:
      return Dimension::User;
    case Scope::Team:
      return Dimension::Team;
    case Scope::Customer:
      return Dimension::Customer;
    case Scope::Agent:
      return Dimension::Agent;
  }
  return std::nullopt;
}

const std::string& attributeValue(const RequestAttributes& attributes, Dimension dimension) {
  switch (dimension) {
    case Dimension::Provider:
      return attributes.provider;
    case Dimension::Model:
      return attributes.model;
    case Dimension::Key:
      return attributes.key;
    case Dimension::User:
      return attributes.user;
    case Dimension::Team:
      return attributes.team;
    case Dimension::Customer:
      return attributes.customer;
    case Dimension::Agent:
      return attributes.agent;
  }
  return attributes.agent;  // unreachable
}

std::string counterSubject(Scope scope, const RequestAttributes& attributes) {
  const auto dimension = scopeDimension(scope);
  if (!dimension) return "";
  const std::string& value = attributeValue(attributes, *dimension);
  return value.empty() ? std::string(kMissingSubject) : value;
}

}  // namespace spendgate::core
