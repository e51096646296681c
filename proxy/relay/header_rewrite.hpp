#pragma once

#include <boost/beast/http/message.hpp>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "proxy/relay/request_parser.hpp"
#include "proxy/relay/response_parser.hpp"

namespace spendgate::proxy {

// A relayed head is rewritten while it is written out, in one pass over the fields it came
// with: dropping a field from Beast's container, or setting one, costs a search and an
// allocation each, several times per request.
//
// Hop-by-hop headers (RFC 9110 §7.6.1) describe one connection and never cross the proxy:
// Connection and every header it names, Keep-Alive, Proxy-Connection, TE, Trailer,
// Transfer-Encoding, Upgrade, Proxy-Authenticate, Proxy-Authorization.

/** What the proxy changes in a client's request head on its way to the upstream. */
struct UpstreamRequestHead {
  std::string_view target_prefix;  // the provider's path prefix, before the client's target
  std::string_view target;
  std::string_view host;  // the upstream authority, for Host
  std::size_t body_size = 0;
  std::span<const std::string_view> drop;  // more headers to drop (the caller-identity ones)
};

/**
 * Appends the head of a client's request as the upstream gets it: "METHOD prefix+target
 * HTTP/1.1", the client's fields minus hop-by-hop ones, Expect (the proxy already holds the whole
 * body), Host, Accept-Encoding, Content-Length and `how.drop`; then Host set to the upstream,
 * Accept-Encoding: identity (so the proxy can read every answer it relays), Content-Length as
 * Beast's prepare_payload() would set it, and the blank line.
 */
void appendUpstreamRequestHead(std::string& out,
                               const boost::beast::http::request_header<>& head,
                               const UpstreamRequestHead& how);

/**
 * The same for a request read by RequestParser (fields kept flat): the same bytes, except that
 * a repeated name stays where it came (see FlatFields).
 */
void appendUpstreamRequestHead(std::string& out,
                               const RequestParser& head,
                               const UpstreamRequestHead& how);

/** How the body after a relayed response head is delimited. */
enum class BodyFraming : std::uint8_t {
  AsUpstream,  // the upstream's Content-Length, if it sent one, still holds
  Length,      // a Content-Length set by the proxy (an answer held whole)
  Chunked,     // re-chunked by the proxy
  UntilClose,  // no length: the body ends when the connection closes (HTTP/1.0 clients)
};

/** What the proxy changes in an upstream's response head on its way to the client. */
struct RelayedResponseHead {
  BodyFraming framing = BodyFraming::AsUpstream;
  std::size_t content_length = 0;         // with BodyFraming::Length
  bool keep_alive = true;                 // false: "Connection: close"
  bool decoded = false;                   // the proxy decodes the body: Content-Encoding goes
  std::span<const std::string_view> own;  // headers the proxy writes itself, in `extra`
  std::string_view extra;                 // header lines formatted by appendHeaderLine
  // RFC 9110 §6.6.1: a recipient with a clock that forwards an answer without Date adds one
  // (ownAnswerDate), as nginx does.
  bool date_if_missing = false;
};

/**
 * Appends "HTTP/1.1 status reason" (the upstream's reason, else the standard one), the
 * upstream's fields minus hop-by-hop ones, the ones named in `how.own`, and the framing fields
 * the proxy replaces; a Date when the upstream sent none and `how.date_if_missing`; then the
 * framing `how` asks for, Connection: close when not kept alive,
 * `how.extra`, and the blank line.
 */
void appendRelayedResponseHead(std::string& out,
                               const boost::beast::http::response_header<>& head,
                               const RelayedResponseHead& how);

/** The same for a head read by ResponseParser (fields kept flat): the same bytes. */
void appendRelayedResponseHead(std::string& out,
                               const ResponseParser& head,
                               const RelayedResponseHead& how);

/**
 * @return the target with the values of credential-bearing query parameters masked: key= (every
 *         name identity reads as the key, percent-decoded the same way), api-key=, api_key=
 */
std::string redactTarget(std::string_view target);
/** The same into `out` (its text replaced, its capacity kept). */
void redactTarget(std::string_view target, std::string& out);

}  // namespace spendgate::proxy
