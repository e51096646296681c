#pragma once

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>
#include <string_view>

#include "core/routing/route_table.hpp"
#include "proxy/identity/query_key.hpp"

namespace spendgate::proxy {

/**
 * The API a request names by its headers and query (core::ApiHint): `anthropic-version`, which
 * every Anthropic SDK and Claude Code send; else Gemini's key, in the `x-goog-api-key` header or
 * a `key` query parameter (its quickstarts' form), when no `Authorization` comes with it (an
 * OpenAI client always sends one, and may carry a spendgate virtual key in any key header). Names
 * other than Authorization are not fields Beast knows by enum, so they are compared as text; the
 * caller asks only when the answer can change the route (RouteTable::hintMatters).
 */
template <class Fields>
core::ApiHint apiHintOf(const Fields& fields, std::string_view target = {}) {
  bool goog_key = false;
  bool authorization = false;
  for (const auto& field : fields) {
    if (field.name() == boost::beast::http::field::authorization) {
      authorization = true;
      continue;
    }
    const auto name = field.name_string();
    if (name.size() == 17 && boost::beast::iequals(name, "anthropic-version")) {
      return core::ApiHint::Anthropic;
    }
    if (name.size() == 14 && boost::beast::iequals(name, "x-goog-api-key")) goog_key = true;
  }
  if (authorization) return core::ApiHint::None;
  if (!goog_key) {
    forEachQueryKey(target, [&goog_key](std::string_view, std::size_t, std::size_t) {
      goog_key = true;
      return false;
    });
  }
  return goog_key ? core::ApiHint::Gemini : core::ApiHint::None;
}

}  // namespace spendgate::proxy
