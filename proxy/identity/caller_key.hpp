#pragma once

#include <boost/beast/http/fields.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/provider/provider_format.hpp"
#include "proxy/relay/flat_fields.hpp"

namespace spendgate::proxy {

/** Where the caller put its API key. */
enum class KeyLocation { None, AuthorizationBearer, XApiKey, XGoogApiKey, AzureApiKey, QueryKey };

/** The API key a request carries, found in any of the providers' usual places. */
struct CallerKey {
  std::string value;  // from the first place in the order findCallerKey reads them
  KeyLocation location = KeyLocation::None;
  // Every other, different value in any auth place (every field of each name, every key=
  // parameter, an Authorization credential under any scheme); empty for the usual one key.
  std::vector<std::string> other_credentials;
};

/**
 * @return the token of an `Authorization: Bearer <token>` value: the scheme in any case, then
 * any run of SP/HTAB (RFC 9110 §11.4); "" for another scheme or no token.
 */
std::string_view bearerToken(std::string_view authorization);

/**
 * @return the key from Authorization: Bearer, x-api-key, x-goog-api-key, api-key or ?key= (the
 *         first of them that holds one; query values percent-decoded), and every different
 *         credential the request also carries
 */
CallerKey findCallerKey(const boost::beast::http::fields& headers, std::string_view target);
/** The same for a request read by RequestParser. */
CallerKey findCallerKey(const FlatFields& headers, std::string_view target);
/**
 * The same, into `into` (every member overwritten): a caller that keeps one CallerKey for its
 * requests (a connection) reuses its strings' capacity instead of allocating a key per request.
 */
void findCallerKey(const FlatFields& headers, std::string_view target, CallerKey& into);

/**
 * @return whether a string in spendgate's own virtual-key shape (core::hasVirtualKeyFormat) rides
 *         anywhere but the places findCallerKey reads: another header's value, the credentials
 *         of an `Authorization: Basic` value (base64-decoded), the path, or a query parameter
 *         other than `key=` (percent-decoded). Such a copy would leave the proxy as it is.
 */
bool carriesKeyOutsideKeyPlaces(const boost::beast::http::fields& headers, std::string_view target);
/** The same for a request read by RequestParser. */
bool carriesKeyOutsideKeyPlaces(const FlatFields& headers, std::string_view target);

/** @return lower-case hex SHA-256 of the text. */
std::string sha256Hex(std::string_view text);

/**
 * Replaces a virtual key with the provider's real key, in the provider's own auth header.
 * Every credential the caller sent is removed (all key headers and `key=` query parameters).
 * @param target the request target; rewritten when the key was in the query
 */
void injectProviderKey(boost::beast::http::fields& headers,
                       std::string& target,
                       const CallerKey& caller,
                       core::ProviderFormat format,
                       std::string_view provider_key);
/** The same for a request read by RequestParser. */
void injectProviderKey(FlatFields& headers,
                       std::string& target,
                       const CallerKey& caller,
                       core::ProviderFormat format,
                       std::string_view provider_key);

}  // namespace spendgate::proxy
