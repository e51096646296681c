#pragma once

#include <string>
#include <string_view>

#include "core/http/query_parameters.hpp"
#include "core/text/percent_decoding.hpp"

namespace spendgate::proxy {

// Query names and values are read as the provider decodes them.
using core::percentDecoded;

/** @return whether identity reads a query parameter of this (raw) name as the caller's key. */
bool isKeyParameterName(std::string_view name);

/**
 * @return whether the access log masks the value of a query parameter of this (raw) name: every
 *         name isKeyParameterName accepts, and api-key / api_key, in any case, decoded the same way
 */
bool isCredentialParameterName(std::string_view name);

/**
 * Calls visit(parameter, begin, end) for each `&`-separated query parameter of the request
 * target ("name=value" as sent), [begin, end) its span in the target, until visit returns false.
 */
template <class Visit>
void forEachQueryParameter(std::string_view target, Visit&& visit) {
  const auto question = target.find('?');
  if (question == std::string_view::npos) return;
  const std::size_t at = question + 1;
  core::forEachQueryParameter(target.substr(at),
                              [&visit, at](std::string_view param, std::size_t b, std::size_t e) {
                                return static_cast<bool>(visit(param, at + b, at + e));
                              });
}

/**
 * Calls visit(value, begin, end) for each `key` query parameter (isKeyParameterName) of the
 * request target, [begin, end) its span in the target, until visit returns false.
 */
template <class Visit>
void forEachQueryKey(std::string_view target, Visit&& visit) {
  forEachQueryParameter(target, [&visit](std::string_view param, std::size_t b, std::size_t e) {
    const auto eq = param.find('=');
    if (eq == std::string_view::npos || !isKeyParameterName(param.substr(0, eq))) return true;
    return static_cast<bool>(visit(param.substr(eq + 1), b, e));
  });
}

}  // namespace spendgate::proxy
