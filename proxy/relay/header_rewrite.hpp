#pragma once

#include <boost/beast/http/fields.hpp>
#include <string_view>

namespace spendgate::proxy {

/**
 * Removes hop-by-hop headers (RFC 9110 §7.6.1): Connection and every header it names,
 * Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade, Proxy-Authenticate,
 * Proxy-Authorization. They describe one connection and must not cross the proxy.
 */
void stripHopByHop(boost::beast::http::fields& fields);

/**
 * Rewrites a client request's headers for the upstream: hop-by-hop removed, Host set to the
 * upstream authority, Expect dropped (the proxy already holds the whole body), and
 * Accept-Encoding forced to identity so the proxy can read every answer it relays.
 */
void rewriteRequestHeaders(boost::beast::http::fields& fields, std::string_view upstream_host);

/** @return the target with the values of credential-bearing query parameters (key=) masked. */
std::string redactTarget(std::string_view target);

}  // namespace spendgate::proxy
