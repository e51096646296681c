#include "proxy/relay/header_rewrite.hpp"

#include <gtest/gtest.h>

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <cctype>
#include <cstdint>
#include <string>
#include <vector>

#include "proxy/identity/caller_key.hpp"
#include "proxy/identity/query_key.hpp"
#include "proxy/relay/response_parser.hpp"
#include "proxy/relay/wire_format.hpp"

// The tests name only the members of a head's description that matter to them; the rest
// keep their defaults.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace spendgate::proxy {
namespace {

namespace http = boost::beast::http;

/** Parses a head written by the functions under test, the way a peer would. */
template <bool isRequest>
http::header<isRequest> parseHead(const std::string& wire) {
  http::parser<isRequest, http::empty_body> parser;
  parser.eager(false);
  if constexpr (!isRequest) parser.skip(true);  // heads only: no body follows here
  boost::system::error_code ec;
  parser.put(boost::asio::buffer(wire.data(), wire.size()), ec);
  EXPECT_TRUE(!ec || ec == http::error::need_more) << ec.message();
  EXPECT_TRUE(parser.is_header_done()) << wire;
  return parser.release().base();
}

std::vector<std::string> names(const http::fields& fields) {
  std::vector<std::string> out;
  for (const auto& field : fields) out.emplace_back(field.name_string());
  return out;
}

http::request_header<> clientRequest() {
  http::request_header<> head;
  head.method(http::verb::post);
  head.target("/v1/chat/completions?x=1");
  head.version(11);
  head.set(http::field::host, "127.0.0.1:8080");
  head.set(http::field::authorization, "Bearer sk-test");
  head.set(http::field::content_type, "application/json");
  head.set(http::field::content_length, "999");  // the proxy's own count replaces it
  return head;
}

TEST(HeaderRewriteTest, RequestDropsHopByHopAndHeadersNamedInConnection) {
  http::request_header<> head = clientRequest();
  head.insert("X-Trace-Hop", "1");  // named by a Connection header that comes after it
  head.insert(http::field::connection, "keep-alive, X-Trace-Hop");
  head.insert(http::field::connection, "Upgrade");
  head.insert(http::field::keep_alive, "timeout=5");
  head.insert(http::field::transfer_encoding, "chunked");
  head.insert(http::field::te, "trailers");
  head.insert(http::field::trailer, "x-checksum");
  head.insert(http::field::upgrade, "websocket");
  head.insert(http::field::proxy_authorization, "Basic abc");
  head.insert("Proxy-Connection", "keep-alive");
  head.insert("x-api-key", "sk-ant");
  head.insert("anthropic-version", "2023-06-01");

  std::string wire;
  appendUpstreamRequestHead(wire, head, {.target = head.target(), .host = "h", .body_size = 2});
  const auto sent = parseHead<true>(wire);

  for (auto name : {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
                    "proxy-authorization", "proxy-connection", "x-trace-hop"}) {
    EXPECT_EQ(sent.count(name), 0u) << name;
  }
  EXPECT_EQ(sent[http::field::authorization], "Bearer sk-test");
  EXPECT_EQ(sent["x-api-key"], "sk-ant");
  EXPECT_EQ(sent["anthropic-version"], "2023-06-01");
}

// Up to four names listed in Connection are kept without allocating; more must count as well.
TEST(HeaderRewriteTest, ManyNamesInConnectionAreAllDropped) {
  http::request_header<> head = clientRequest();
  for (auto name : {"x-a", "x-b", "x-c", "x-d", "x-e", "x-f"}) head.insert(name, "1");
  head.insert(http::field::connection, "keep-alive, x-a, x-b");
  head.insert(http::field::connection, "x-c, x-d, x-e, x-f");
  head.insert("x-kept", "2");

  std::string wire;
  appendUpstreamRequestHead(wire, head, {.target = head.target(), .host = "h", .body_size = 2});
  const auto sent = parseHead<true>(wire);

  for (auto name : {"x-a", "x-b", "x-c", "x-d", "x-e", "x-f", "connection"}) {
    EXPECT_EQ(sent.count(name), 0u) << name;
  }
  EXPECT_EQ(sent["x-kept"], "2");
}

TEST(HeaderRewriteTest, ConnectionValuesNameWhatTokenListReadsInThem) {
  // A Connection value of token characters only is taken as its one token without Beast's
  // token_list; every other value goes through token_list. Either way the names dropped are the
  // tokens token_list reads (it stops at the first character that is neither a token's nor a
  // list's, keeping what it read before).
  const std::vector<std::string> candidates = {"x-a", "x-b", "X-A", "x-a.b", "x-a!", "x~b",
                                               "x-c", "x'a", "x#",  "x|y",   "x^_`"};
  const std::vector<std::string> values = {
      "x-a",     "X-A",        "x-a.b",        "x-a!",         "x~b",     "x'a",      "x#",
      "x|y",     "x^_`",       "x-a, x-b",     "x-a,x-b",      ",x-a",    "x-a,",     " x-a",
      "x-a x-b", "x-a;x-b",    "\"x-a\"",      "x-a, \"x-b\"", "x-a/x-b", "x-a\tx-b", "x-a,,x-b",
      "x-a\x80", "x-b\x80x-c", "x-a x-b, x-c", "x-c, x-a x-b", ";",       ","};
  for (const auto& value : values) {
    http::request_header<> head = clientRequest();
    for (const auto& name : candidates) head.insert(name, "1");
    head.insert(http::field::connection, value);
    std::vector<std::string> listed;
    for (const auto token : http::token_list{value})
      listed.emplace_back(token.data(), token.size());

    std::string wire;
    appendUpstreamRequestHead(wire, head, {.target = head.target(), .host = "h", .body_size = 2});
    const std::string lower = [&] {
      std::string text = wire;
      for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return text;
    }();
    for (const auto& name : candidates) {
      bool dropped = false;
      for (const auto& token : listed) dropped = dropped || boost::beast::iequals(name, token);
      std::string line = "\r\n" + name + ": 1\r\n";
      for (char& c : line) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      EXPECT_EQ(lower.find(line) == std::string::npos, dropped) << "[" << value << "] " << name;
    }
  }
}

TEST(HeaderRewriteTest, RequestGetsUpstreamTargetHostIdentityEncodingAndNoExpect) {
  http::request_header<> head = clientRequest();
  head.set(http::field::accept_encoding, "gzip, br");
  head.set(http::field::expect, "100-continue");
  head.insert("X-Spendgate-User", "alice");
  head.insert("x-spendgate-team", "ml");
  static constexpr std::string_view kDrop[] = {"x-spendgate-user", "x-spendgate-team"};

  std::string wire;
  appendUpstreamRequestHead(wire, head,
                            {.target_prefix = "/openai",
                             .target = head.target(),
                             .host = "api.openai.com",
                             .body_size = 23,
                             .drop = kDrop});
  EXPECT_TRUE(wire.starts_with("POST /openai/v1/chat/completions?x=1 HTTP/1.1\r\n")) << wire;
  EXPECT_TRUE(wire.ends_with("\r\n\r\n"));
  const auto sent = parseHead<true>(wire);
  EXPECT_EQ(sent.count(http::field::host), 1u);
  EXPECT_EQ(sent[http::field::host], "api.openai.com");
  EXPECT_EQ(sent[http::field::accept_encoding], "identity");
  EXPECT_EQ(sent.count(http::field::accept_encoding), 1u);
  EXPECT_EQ(sent.count(http::field::expect), 0u);
  EXPECT_EQ(sent.count(http::field::content_length), 1u);
  EXPECT_EQ(sent[http::field::content_length], "23");
  EXPECT_EQ(sent[http::field::content_type], "application/json");
  EXPECT_EQ(sent.count("x-spendgate-user"), 0u);
  EXPECT_EQ(sent.count("x-spendgate-team"), 0u);
}

TEST(HeaderRewriteTest, RequestContentLengthAsPreparePayloadWouldSetIt) {
  auto lengthOf = [](http::verb method, std::size_t body) {
    http::request_header<> head;
    head.method(method);
    head.target("/v1/models");
    head.set(http::field::content_length, "5");
    std::string wire;
    appendUpstreamRequestHead(wire, head, {.target = "/v1/models", .host = "h", .body_size = body});
    const auto sent = parseHead<true>(wire);
    return sent.count(http::field::content_length) == 0
               ? std::string("none")
               : std::string(sent[http::field::content_length]);
  };
  EXPECT_EQ(lengthOf(http::verb::post, 0), "0");
  EXPECT_EQ(lengthOf(http::verb::put, 0), "0");
  EXPECT_EQ(lengthOf(http::verb::get, 0), "none");
  EXPECT_EQ(lengthOf(http::verb::delete_, 0), "none");
  EXPECT_EQ(lengthOf(http::verb::get, 7), "7");
}

TEST(HeaderRewriteTest, ResponseKeepsTheUpstreamReasonOrUsesTheStandardOne) {
  http::response_header<> head;
  head.result(429);
  head.set(http::field::content_type, "application/json");
  std::string wire;
  appendRelayedResponseHead(wire, head, {});
  EXPECT_EQ(wire, "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n\r\n");

  head.reason("Slow Down");
  wire.clear();
  appendRelayedResponseHead(wire, head, {});
  EXPECT_TRUE(wire.starts_with("HTTP/1.1 429 Slow Down\r\n"));
}

// Found by fuzzing (tests/fuzz/header_rewrite_fuzz.cpp): Beast accepts an upstream's "020" as
// status 20, which was relayed as "HTTP/1.1 20 OK", a status line the client cannot parse.
TEST(HeaderRewriteTest, ResponseStatusIsAlwaysThreeDigits) {
  http::response_parser<http::empty_body> upstream;
  upstream.skip(true);
  const std::string received = "HTTP/1.1 020 OK\r\nContent-Length: 0\r\n\r\n";
  boost::system::error_code ec;
  upstream.put(boost::asio::buffer(received.data(), received.size()), ec);
  ASSERT_FALSE(ec) << ec.message();
  std::string wire;
  appendRelayedResponseHead(wire, upstream.get().base(), {});
  EXPECT_TRUE(wire.starts_with("HTTP/1.1 020 OK\r\n")) << wire;
  EXPECT_EQ(parseHead<false>(wire).result_int(), 20u);
}

TEST(HeaderRewriteTest, ResponseDropsHopByHopAndUpstreamCopiesOfOwnHeaders) {
  http::response_header<> head;
  head.result(200);
  head.version(10);  // the client always gets HTTP/1.1
  head.insert(http::field::content_type, "application/json");
  head.insert("X-RateLimit-Limit-Requests", "60");
  head.insert("x-ratelimit-limit-requests", "61");
  head.insert("x-ratelimit-limit-tokens", "1000");
  head.insert("X-Spendgate-Cost-Usd", "9");
  head.insert(http::field::connection, "close, X-Hop");
  head.insert("X-Hop", "1");
  head.insert(http::field::keep_alive, "timeout=5");
  head.insert(http::field::content_length, "12");
  static constexpr std::string_view kOwn[] = {"x-ratelimit-limit-requests", "x-spendgate-cost-usd"};
  std::string own;
  appendHeaderLine(own, "x-spendgate-request-id", "req_1");
  appendHeaderLine(own, "x-spendgate-cost-usd", "0.000012");

  std::string wire;
  appendRelayedResponseHead(wire, head, {.own = kOwn, .extra = own});
  EXPECT_EQ(wire,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            "x-ratelimit-limit-tokens: 1000\r\nContent-Length: 12\r\n"
            "x-spendgate-request-id: req_1\r\nx-spendgate-cost-usd: 0.000012\r\n\r\n");
}

TEST(HeaderRewriteTest, ResponseFramingIsTheProxys) {
  http::response_header<> head;
  head.result(200);
  head.insert(http::field::content_type, "text/event-stream");
  head.insert(http::field::content_encoding, "gzip");
  head.insert(http::field::content_length, "40");
  head.insert(http::field::transfer_encoding, "chunked");

  auto write = [&head](RelayedResponseHead how) {
    std::string wire;
    appendRelayedResponseHead(wire, head, how);
    return names(parseHead<false>(wire));
  };
  using Names = std::vector<std::string>;
  EXPECT_EQ(write({}), (Names{"Content-Type", "Content-Encoding", "Content-Length"}));
  EXPECT_EQ(write({.framing = BodyFraming::Chunked, .decoded = true}),
            (Names{"Content-Type", "Transfer-Encoding"}));
  EXPECT_EQ(write({.framing = BodyFraming::UntilClose, .keep_alive = false}),
            (Names{"Content-Type", "Content-Encoding", "Connection"}));

  std::string wire;
  appendRelayedResponseHead(
      wire, head, {.framing = BodyFraming::Length, .content_length = 1234, .decoded = true});
  const auto sent = parseHead<false>(wire);
  EXPECT_EQ(sent.count(http::field::content_length), 1u);
  EXPECT_EQ(sent[http::field::content_length], "1234");
  EXPECT_EQ(sent.count(http::field::content_encoding), 0u);

  wire.clear();
  appendRelayedResponseHead(wire, head, {.keep_alive = false});
  EXPECT_EQ(parseHead<false>(wire)[http::field::connection], "close");
}

TEST(HeaderRewriteTest, AnAnswerWithoutDateGetsOneWhenAsked) {
  http::response_header<> head;
  head.result(200);
  head.insert(http::field::content_type, "application/json");
  std::string wire;
  appendRelayedResponseHead(wire, head, {.date_if_missing = true});
  auto sent = parseHead<false>(wire);
  ASSERT_EQ(sent.count(http::field::date), 1u) << wire;
  // IMF-fixdate (RFC 9110 §5.6.7), e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
  EXPECT_EQ(sent[http::field::date].size(), 29u) << wire;
  EXPECT_TRUE(sent[http::field::date].ends_with(" GMT")) << wire;

  // The upstream's own Date is relayed, and no second one added.
  head.insert(http::field::date, "Sun, 06 Nov 1994 08:49:37 GMT");
  wire.clear();
  appendRelayedResponseHead(wire, head, {.date_if_missing = true});
  sent = parseHead<false>(wire);
  EXPECT_EQ(sent.count(http::field::date), 1u) << wire;
  EXPECT_EQ(sent[http::field::date], "Sun, 06 Nov 1994 08:49:37 GMT");
}

TEST(HeaderRewriteTest, ADateThatConnectionNamesIsDroppedAndReplacedWithTheProxysOwn) {
  // It was dropped as hop-by-hop, and none added: the upstream had sent one.
  http::response_header<> head;
  head.result(200);
  head.insert(http::field::date, "Sun, 06 Nov 1994 08:49:37 GMT");
  head.insert(http::field::connection, "keep-alive, date");
  std::string wire;
  appendRelayedResponseHead(wire, head, {.date_if_missing = true});
  const auto sent = parseHead<false>(wire);
  ASSERT_EQ(sent.count(http::field::date), 1u) << wire;
  EXPECT_NE(sent[http::field::date], "Sun, 06 Nov 1994 08:49:37 GMT") << wire;
  EXPECT_EQ(sent[http::field::date].size(), 29u) << wire;

  // The same through ResponseParser, whose fields are kept flat.
  FlatFields fields;
  ResponseParser parser(fields);
  const std::string_view upstream =
      "HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nConnection: Date\r\n"
      "Content-Length: 0\r\n\r\n";
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(upstream.data(), upstream.size()), ec);
  ASSERT_FALSE(ec) << ec.message();
  wire.clear();
  appendRelayedResponseHead(wire, parser, {.date_if_missing = true});
  const auto relayed = parseHead<false>(wire);
  ASSERT_EQ(relayed.count(http::field::date), 1u) << wire;
  EXPECT_NE(relayed[http::field::date], "Sun, 06 Nov 1994 08:49:37 GMT") << wire;
}

// A head is written into room made for the most it can take, then cut: the longest lines the
// proxy writes itself must fit, after whatever the buffer already held.
TEST(HeaderRewriteTest, TheLongestLinesTheProxyWritesFitTheRoomMadeForThem) {
  http::request_header<> request;
  request.method(http::verb::post);
  request.target("/v1/x");
  std::string wire = "held";
  appendUpstreamRequestHead(wire, request, {.target = "/v1/x", .host = "h", .body_size = SIZE_MAX});
  EXPECT_EQ(wire,
            "heldPOST /v1/x HTTP/1.1\r\nHost: h\r\nAccept-Encoding: identity\r\n"
            "Content-Length: 18446744073709551615\r\n\r\n");

  http::response_header<> response;
  response.result(http::status::ok);
  for (const BodyFraming framing : {BodyFraming::Length, BodyFraming::Chunked}) {
    std::string head = "held";
    appendRelayedResponseHead(head, response,
                              {.framing = framing,
                               .content_length = SIZE_MAX,
                               .keep_alive = false,
                               .extra = "x-spendgate-request-id: r\r\n"});
    const std::string framing_line = framing == BodyFraming::Length
                                         ? "Content-Length: 18446744073709551615\r\n"
                                         : "Transfer-Encoding: chunked\r\n";
    EXPECT_EQ(head, "heldHTTP/1.1 200 OK\r\n" + framing_line +
                        "Connection: close\r\nx-spendgate-request-id: r\r\n\r\n");
  }
}

TEST(HeaderRewriteTest, DroppedNamesAreUnknownToBeast) {
  // Names in `drop` and `own` are compared only for fields Beast has no id for.
  for (auto name :
       {"x-spendgate-user", "x-spendgate-team", "x-spendgate-customer", "x-spendgate-agent",
        "x-spendgate-request-id", "x-spendgate-cost-usd", "x-ratelimit-limit-requests",
        "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests", "x-ratelimit-limit-tokens",
        "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"}) {
    EXPECT_EQ(http::string_to_field(name), http::field::unknown) << name;
  }
}

TEST(HeaderRewriteTest, RedactsKeyQueryParameters) {
  EXPECT_EQ(redactTarget("/v1beta/models/g:generateContent?key=AIzaSECRET&alt=sse"),
            "/v1beta/models/g:generateContent?key=REDACTED&alt=sse");
  EXPECT_EQ(redactTarget("/x?alt=sse&KEY=s&api-key=t"), "/x?alt=sse&KEY=REDACTED&api-key=REDACTED");
  EXPECT_EQ(redactTarget("/v1/chat/completions"), "/v1/chat/completions");
  EXPECT_EQ(redactTarget("/x?monkey=1"), "/x?monkey=1");
}

// The session redacts each request's target into the string it kept from the one before.
TEST(RedactTarget, IntoAKeptStringAsIntoANewOne) {
  const std::vector<std::string> targets = {
      "/v1beta/models/g:generateContent?key=AIzaSECRET&alt=sse",
      "/x?alt=sse&KEY=s&api-key=t",
      "/v1/chat/completions",
      "/x?monkey=1",
      "/x?%6b%65%79=s&k%65y=t",
      "/",
      "",
      "/x?",
      "/x?&&key=&=1&key",
      "/a-rather-long-path/that/is/longer/than/any/of/the/others?key=s&alt=sse&more=1&more=2",
  };
  std::string kept;
  for (const auto& before : targets) {
    for (const auto& target : targets) {
      redactTarget(before, kept);
      redactTarget(target, kept);
      EXPECT_EQ(kept, redactTarget(target)) << target << " after " << before;
    }
  }
}

// Identity decodes parameter names ("%6Bey" is "key"), so the log must compare them decoded too.
TEST(RedactTarget, MasksPercentEncodedKeyNames) {
  EXPECT_EQ(redactTarget("/v1beta/m:generateContent?%6Bey=AIzaSECRET&alt=sse"),
            "/v1beta/m:generateContent?%6Bey=REDACTED&alt=sse");
  EXPECT_EQ(redactTarget("/x?%6b%65%79=s&k%65y=t"), "/x?%6b%65%79=REDACTED&k%65y=REDACTED");
  EXPECT_EQ(redactTarget("/x?api%2Dkey=s&api%5Fkey=t"), "/x?api%2Dkey=REDACTED&api%5Fkey=REDACTED");
  EXPECT_EQ(redactTarget("/x?%6Beys=1&%6Be=2"), "/x?%6Beys=1&%6Be=2");
}

// Every name identity would read as the key is masked: the two share one decoding.
TEST(RedactTarget, MasksEveryNameIdentityReadsAsTheKey) {
  for (std::string_view name : {"key", "%6Bey", "%6bey", "k%65y", "%6B%65%79", "ke%79"}) {
    ASSERT_TRUE(isKeyParameterName(name)) << name;
    const std::string target = "/x?" + std::string(name) + "=SECRET";
    EXPECT_EQ(findCallerKey(boost::beast::http::fields{}, target).value, "SECRET") << name;
    EXPECT_EQ(redactTarget(target).find("SECRET"), std::string::npos) << name;
  }
}

}  // namespace
}  // namespace spendgate::proxy
