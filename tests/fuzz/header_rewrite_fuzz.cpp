// appendUpstreamRequestHead / appendRelayedResponseHead / redactTarget (proxy/relay/
// header_rewrite.hpp): a client's request head and an upstream's response head, as Beast's
// parser accepted them, rewritten for the other side. No sockets: the heads are parsed from the
// input with Beast's own parser.
// Input: 1 option byte (bit 0: response, else request; the others pick the framing), then the
// head.
// Invariants: the rewritten head is one Beast parses again; hop-by-hop fields and the ones
// named by Connection are gone; Host, Content-Length and the framing are what the proxy set.

#include <array>
#include <boost/asio/buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/relay/header_rewrite.hpp"
#include "proxy/relay/request_parser.hpp"
#include "proxy/relay/response_parser.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace {

namespace http = boost::beast::http;
using namespace spendgate::proxy;

/** Parses a head with Beast; nullopt when Beast rejects it (or it is incomplete). */
template <bool isRequest>
std::optional<http::header<isRequest>> parseHead(std::string_view text, bool head_response) {
  http::parser<isRequest, http::empty_body> parser;
  parser.header_limit(64 * 1024);
  parser.eager(false);
  if constexpr (!isRequest) parser.skip(head_response);
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(text.data(), text.size()), ec);
  if (!parser.is_header_done()) return std::nullopt;
  if (ec && ec != http::error::need_more) return std::nullopt;
  return parser.get().base();
}

std::vector<std::string> connectionNames(const http::fields& fields) {
  std::vector<std::string> names;
  for (const auto& f : fields) {
    if (f.name() != http::field::connection) continue;
    for (const auto token : http::token_list{f.value()}) names.emplace_back(token);
  }
  return names;
}

bool hopByHop(http::field id) {
  return id == http::field::connection || id == http::field::keep_alive ||
         id == http::field::proxy_connection || id == http::field::te ||
         id == http::field::trailer || id == http::field::transfer_encoding ||
         id == http::field::upgrade || id == http::field::proxy_authenticate ||
         id == http::field::proxy_authorization;
}

/** No hop-by-hop field but the ones the proxy itself wrote, and nothing Connection named. */
void checkCrossed(const http::fields& out,
                  const std::vector<std::string>& named,
                  const std::vector<std::string_view>& own_names) {
  for (const auto& f : out) {
    const std::string_view name = f.name_string();
    bool own = false;
    for (const auto o : own_names) own = own || boost::beast::iequals(name, o);
    if (own) continue;
    FUZZ_CHECK(!hopByHop(f.name()));
    for (const auto& n : named) FUZZ_CHECK(!boost::beast::iequals(name, n));
  }
}

/** The fields in order: name as received and value. */
template <class Fields>
std::vector<std::pair<std::string, std::string>> fieldList(const Fields& fields) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& f : fields) out.emplace_back(f.name_string(), f.value());
  return out;
}

/**
 * The head the relay writes from its flat parse (FlatFields) against the one written from
 * Beast's: byte for byte when the fields came in the order basic_fields lists them, else (a
 * repeated name between others: FlatFields keeps it where it came, basic_fields moves it up)
 * the same once Beast has read both back.
 */
template <bool isRequest, class FlatFieldsList>
void checkSameHead(const FlatFieldsList& flat_fields,
                   const http::fields& beast_fields,
                   const std::string& flat_out,
                   const std::string& out) {
  if (fieldList(flat_fields) == fieldList(beast_fields)) {
    FUZZ_CHECK(flat_out == out);
    return;
  }
  const auto flat_again = parseHead<isRequest>(flat_out, true);
  const auto again = parseHead<isRequest>(out, true);
  FUZZ_CHECK(flat_again.has_value() && again.has_value());
  FUZZ_CHECK(fieldList(*flat_again) == fieldList(*again));
}

}  // namespace

SPENDGATE_FUZZ_TARGET(header_rewrite) {
  spendgate::fuzz::Input in(data, size);
  const std::uint8_t option = in.byte();
  const std::string_view text = in.rest();
  (void)redactTarget(text);

  if ((option & 1) == 0) {
    const auto head = parseHead<true>(text, false);
    if (!head) return 0;
    (void)redactTarget(head->target());
    static constexpr std::array<std::string_view, 2> kDrop = {"x-spendgate-user", "X-Team"};
    UpstreamRequestHead how;
    how.target_prefix = (option & 2) != 0 ? "/openai/v1" : "";
    how.target = head->target();
    how.host = "upstream.example:8443";
    how.body_size = option >> 2;
    how.drop = kDrop;
    std::string out;
    appendUpstreamRequestHead(out, *head, how);
    // The session reads requests with RequestParser (fields kept flat), not basic_fields: from
    // the same bytes it must write the same head.
    FlatFields flat_fields;
    RequestParser flat(flat_fields);
    flat.header_limit(64 * 1024);
    flat.eager(false);
    boost::beast::error_code flat_ec;
    flat.put(boost::asio::buffer(text.data(), text.size()), flat_ec);
    FUZZ_CHECK(flat.is_header_done());
    FUZZ_CHECK(flat.method_string() == head->method_string());
    FUZZ_CHECK(flat.target() == head->target());
    FUZZ_CHECK(flat.version() == head->version());
    FUZZ_CHECK(flat.keepAlive() == http::request<http::empty_body>(*head).keep_alive());
    std::string flat_out;
    appendUpstreamRequestHead(flat_out, flat, how);
    checkSameHead<true>(flat.fields(), *head, flat_out, out);
    const auto again = parseHead<true>(out, false);
    FUZZ_CHECK(again.has_value());
    FUZZ_CHECK(again->target() == std::string(how.target_prefix) + std::string(how.target));
    FUZZ_CHECK(again->method_string() == head->method_string());
    FUZZ_CHECK(again->count(http::field::host) == 1);
    FUZZ_CHECK((*again)[http::field::host] == how.host);
    FUZZ_CHECK((*again)[http::field::accept_encoding] == "identity");
    FUZZ_CHECK(again->count(http::field::content_length) <= 1);
    if (how.body_size > 0) {
      FUZZ_CHECK((*again)[http::field::content_length] == std::to_string(how.body_size));
    }
    for (const auto d : kDrop) FUZZ_CHECK(again->count(d) == 0);
    checkCrossed(*again, connectionNames(*head), {"Host", "Accept-Encoding", "Content-Length"});
    return 0;
  }

  const bool head_response = (option & 0x40) != 0;
  const auto head = parseHead<false>(text, head_response);
  if (!head) return 0;
  static constexpr std::array<std::string_view, 1> kOwn = {"X-Request-Id"};
  RelayedResponseHead how;
  how.framing = static_cast<BodyFraming>((option >> 1) & 3);
  how.content_length = 1234;
  how.keep_alive = (option & 8) != 0;
  how.decoded = (option & 16) != 0;
  how.own = kOwn;
  how.extra = "X-Request-Id: abc\r\n";
  std::string out;
  appendRelayedResponseHead(out, *head, how);
  // The relay reads answers with ResponseParser (fields kept flat), not basic_fields: from the
  // same bytes it must write the same head.
  FlatFields flat_fields;
  ResponseParser flat(flat_fields);
  flat.header_limit(64 * 1024);
  flat.eager(false);
  flat.skip(head_response);
  boost::beast::error_code flat_ec;
  flat.put(boost::asio::buffer(text.data(), text.size()), flat_ec);
  FUZZ_CHECK(flat.is_header_done());
  std::string flat_out;
  appendRelayedResponseHead(flat_out, flat, how);
  checkSameHead<false>(flat.fields(), *head, flat_out, out);
  const auto again = parseHead<false>(out, true);
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(again->result_int() == head->result_int());
  FUZZ_CHECK(again->count("X-Request-Id") == 1);
  if (how.decoded) FUZZ_CHECK(again->count(http::field::content_encoding) == 0);
  if (how.framing == BodyFraming::Length) {
    FUZZ_CHECK(again->count(http::field::content_length) == 1);
    FUZZ_CHECK((*again)[http::field::content_length] == "1234");
  }
  if (how.framing == BodyFraming::Chunked) {
    FUZZ_CHECK(again->count(http::field::content_length) == 0);
    FUZZ_CHECK(again->count(http::field::transfer_encoding) == 1);
  }
  std::vector<std::string_view> own_names = {"X-Request-Id"};
  if (how.framing == BodyFraming::Chunked) own_names.push_back("Transfer-Encoding");
  if (how.framing == BodyFraming::Length) own_names.push_back("Content-Length");
  if (!how.keep_alive) own_names.push_back("Connection");
  checkCrossed(*again, connectionNames(*head), own_names);
  return 0;
}
