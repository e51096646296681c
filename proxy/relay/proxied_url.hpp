#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "config/upstream_url.hpp"
#include "proxy/relay/flat_fields.hpp"

namespace spendgate::proxy {

// Gemini's resumable upload (google-genai's files.upload) answers its first call with the URL of
// the upload session in `x-goog-upload-url`, and the SDK sends the file there. Left as the
// provider wrote it, that URL sends the bytes, and the caller's key (a virtual key too), straight
// to the provider, around the proxy. Pointed back at the proxy, as nginx's proxy_redirect does
// with a Location, they come through it like every other call.

/**
 * @return `url` pointed back at the proxy: `client_origin` + the path after the provider's path
 *         prefix + the query; nullopt when `url` is not under the provider's base_url (another
 *         scheme, host or port, a path outside its prefix, userinfo, not a URL), which the
 *         client then gets as sent.
 */
std::optional<std::string> proxiedUrl(std::string_view url,
                                      const config::UpstreamUrl& upstream,
                                      std::string_view client_origin);

/**
 * @return how the client reached the proxy: "http://" + its Host header, or "https://" when a
 *         TLS-terminating load balancer in front said `X-Forwarded-Proto: https`; "" without a
 *         usable Host (then nothing is rewritten).
 */
std::string clientOrigin(std::string_view host, std::string_view forwarded_proto);

/**
 * @return the `proto` of the first element of an RFC 7239 `Forwarded` header (the hop nearest
 *         the client), unquoted; "" when it names none.
 */
std::string_view forwardedProto(std::string_view forwarded);

/**
 * clientOrigin() of a request's fields: its Host, and X-Forwarded-Proto, else the proto of
 * RFC 7239's Forwarded.
 */
std::string clientOrigin(const FlatFields& request_fields);

}  // namespace spendgate::proxy
