#pragma once

#include <string>
#include <string_view>

namespace spendgate::proxy {

/**
 * @return the text with its %XX sequences decoded (a malformed one stays as it is), as the
 *         provider decodes query parameter names and values
 */
std::string percentDecoded(std::string_view text);

/** @return whether identity reads a query parameter of this (raw) name as the caller's key. */
bool isKeyParameterName(std::string_view name);

/**
 * @return whether the access log masks the value of a query parameter of this (raw) name: every
 *         name isKeyParameterName accepts, and api-key / api_key, in any case, decoded the same way
 */
bool isCredentialParameterName(std::string_view name);

}  // namespace spendgate::proxy
