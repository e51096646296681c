#include "proxy/relay/response_parser.hpp"

#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "proxy/relay/header_rewrite.hpp"

namespace spendgate::proxy {
namespace {

namespace http = boost::beast::http;

/** Everything the relay reads of a parsed answer, to compare the two parsers by. */
struct Parsed {
  std::vector<std::string> errors;  // every error put() gave, in order
  unsigned status = 0;
  std::string reason;
  std::vector<std::tuple<http::field, std::string, std::string>> fields;
  std::optional<std::uint64_t> content_length;
  bool keep_alive = false;
  bool chunked = false;
  bool done = false;
  std::string body;
  std::vector<std::string> heads;  // appendRelayedResponseHead under a few rewrites

  friend bool operator==(const Parsed&, const Parsed&) = default;
};

const std::string_view kOwn[] = {"x-spendgate-request-id"};

std::vector<RelayedResponseHead> rewrites() {
  std::vector<RelayedResponseHead> out(4);
  out[1].framing = BodyFraming::Length;
  out[1].content_length = 42;
  out[1].keep_alive = false;
  out[2].framing = BodyFraming::Chunked;
  out[2].decoded = true;
  out[2].own = kOwn;
  out[2].extra = "x-spendgate-request-id: req_1\r\n";
  out[3].framing = BodyFraming::UntilClose;
  return out;
}

/**
 * Feeds `wire` to the parser `piece` bytes at a time (as they might arrive), the body into
 * buffers of `room` bytes (as relayResponse does), and reads back what the relay reads.
 */
template <class Parser, class Head, class Fields, class Body>
Parsed drive(Parser& parser,
             const Head& head,
             const Fields& fields,
             Body& body,
             std::string_view wire,
             std::size_t piece,
             std::size_t room) {
  Parsed out;
  parser.eager(true);
  std::size_t at = 0;
  std::size_t available = std::min(piece, wire.size());
  std::vector<char> buffer(room);
  for (int guard = 0; guard < 100000 && !parser.is_done(); ++guard) {
    body.data = buffer.data();
    body.size = buffer.size();
    boost::system::error_code ec;
    const std::size_t used =
        parser.put(boost::asio::const_buffer(wire.data() + at, available - at), ec);
    at += used;
    out.body.append(buffer.data(), buffer.size() - body.size);
    if (ec) out.errors.push_back(ec.message());
    if (ec == http::error::need_more) {
      if (available == wire.size()) {
        parser.put_eof(ec);
        if (ec) out.errors.push_back("eof: " + ec.message());
        break;
      }
      available = std::min(available + piece, wire.size());
    } else if (ec && ec != http::error::need_buffer) {
      break;
    }
  }
  if (!parser.is_header_done()) return out;
  out.status = head.result_int();
  out.reason = std::string(head.reason());
  for (const auto& field : fields) {
    out.fields.emplace_back(field.name(), std::string(field.name_string()),
                            std::string(field.value()));
  }
  if (const auto length = parser.content_length()) out.content_length = *length;
  out.keep_alive = parser.keep_alive();
  out.chunked = parser.chunked();
  out.done = parser.is_done();
  for (const RelayedResponseHead& how : rewrites()) {
    std::string text;
    appendRelayedResponseHead(text, head, how);
    out.heads.push_back(std::move(text));
  }
  return out;
}

Parsed withBeast(std::string_view wire, std::size_t piece, std::size_t room) {
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  return drive(parser, parser.get().base(), parser.get().base(), parser.get().body(), wire, piece,
               room);
}

/**
 * What Beast reads, less the trailer fields it merges into the head: ResponseParser drops them
 * (RFC 9110 §6.5.1; the wires' trailer field is "Trailer-Field: x").
 */
Parsed withBeastLessTrailers(std::string_view wire, std::size_t piece, std::size_t room) {
  Parsed out = withBeast(wire, piece, room);
  std::erase_if(out.fields,
                [](const auto& field) { return std::get<1>(field) == "Trailer-Field"; });
  for (std::string& head : out.heads) {
    if (const auto at = head.find("Trailer-Field: x\r\n"); at != std::string::npos) {
      head.erase(at, std::string_view("Trailer-Field: x\r\n").size());
    }
  }
  return out;
}

Parsed withFlat(FlatFields& fields, std::string_view wire, std::size_t piece, std::size_t room) {
  ResponseParser parser(fields);
  parser.body_limit(boost::none);
  return drive(parser, parser, parser.fields(), parser.body(), wire, piece, room);
}

const std::vector<std::string>& answers() {
  static const std::vector<std::string> wires = {
      // The bench's answer: nginx, Content-Length.
      "HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Tue, 24 Nov 2026 04:00:00 GMT\r\n"
      "Content-Type: application/json\r\nContent-Length: 27\r\nConnection: keep-alive\r\n\r\n"
      "{\"id\":\"chatcmpl-1\",\"a\":[1]}",
      // Chunked with extensions and a trailer, repeated and oddly spaced fields, Connection
      // naming another header.
      "HTTP/1.1 201 Created\r\nX-A:  one \r\nx-a:two\r\nConnection: close, X-Gone\r\nX-Gone: 1\r\n"
      "Transfer-Encoding: chunked\r\nContent-Type:\ttext/event-stream\t\r\n\r\n"
      "5;ext=1\r\nhello\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nTrailer-Field: x\r\n\r\n",
      // No reason phrase, a status Beast does not know, an empty value, read until close.
      "HTTP/1.1 299 \r\nX-Empty:\r\nX-Unknown-Header: v\r\n\r\nbody until the end",
      // HTTP/1.0, status "020", no body.
      "HTTP/1.0 020 Odd\r\nContent-Length: 0\r\n\r\n",
      // A 204 (no body whatever it says) and a gzip coding.
      "HTTP/1.1 204 No Content\r\nContent-Encoding: gzip\r\nKeep-Alive: timeout=5\r\n\r\n",
      // Malformed: two Content-Lengths that disagree; a bad chunk size.
      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
      // Truncated body.
      "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
  };
  return wires;
}

TEST(ResponseParserTest, ReadsWhatBeastsResponseParserReads) {
  FlatFields fields;  // one for every answer, as a connection keeps it
  for (const std::string& wire : answers()) {
    for (const std::size_t piece : {std::size_t{1}, std::size_t{7}, wire.size()}) {
      for (const std::size_t room : {std::size_t{1}, std::size_t{5}, std::size_t{8192}}) {
        const Parsed beast = withBeastLessTrailers(wire, piece, room);
        const Parsed flat = withFlat(fields, wire, piece, room);
        EXPECT_EQ(flat, beast) << wire << "\npiece " << piece << ", room " << room;
      }
    }
  }
}

TEST(ResponseParserTest, FieldsAreOnlyThoseOfTheLatestHead) {
  FlatFields fields;
  const Parsed big = withFlat(fields, answers()[0], 4096, 4096);
  EXPECT_EQ(big.fields.size(), 5u);
  const Parsed small = withFlat(fields, answers()[3], 4096, 4096);
  ASSERT_EQ(small.fields.size(), 1u);
  EXPECT_EQ(std::get<1>(small.fields[0]), "Content-Length");
  EXPECT_EQ(fields.size(), 1u);
}

TEST(ResponseParserTest, AFieldBeastCouldNotHoldIsAHeaderLimitNotAThrow) {
  // Beast's basic_fields throws (inside a composed read that escaped to io_context::run and
  // ended the process: audit 14 H2/H3); ResponseParser answers header_limit instead.
  const std::string wire =
      "HTTP/1.1 200 OK\r\nX-Huge: " + std::string(70000, 'a') + "\r\nContent-Length: 0\r\n\r\n";
  http::response_parser<http::buffer_body> beast;
  beast.header_limit(1 << 20);
  FlatFields fields;
  ResponseParser flat(fields);
  flat.header_limit(1 << 20);
  boost::system::error_code ec;
  EXPECT_THROW(beast.put(boost::asio::buffer(wire), ec), std::length_error);
  EXPECT_NO_THROW(flat.put(boost::asio::buffer(wire), ec));
  EXPECT_EQ(ec, http::error::header_limit);
}

/** A chunked 200 whose trailer section is `trailer` (each line with its CRLF). */
std::string chunkedWithTrailer(const std::string& trailer) {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
         "\r\n2\r\n{}\r\n0\r\n" +
         trailer + "\r\n";
}

/** Feeds the whole of `wire` at once, the body into a buffer large enough for it. */
boost::system::error_code parseWhole(ResponseParser& parser, const std::string& wire) {
  std::string body(64, '\0');
  parser.body().data = body.data();
  parser.body().size = body.size();
  boost::system::error_code ec;
  std::size_t used = 0;
  while (used < wire.size() && !parser.is_done()) {
    const std::size_t n =
        parser.put(boost::asio::buffer(wire.data() + used, wire.size() - used), ec);
    used += n;
    if (ec || n == 0) break;
  }
  return ec;
}

TEST(ResponseParserTest, TrailerFieldsAreDroppedNotMergedIntoTheHead) {
  // audit 14 M2: a trailer Set-Cookie became a header of the relayed answer.
  FlatFields fields;
  ResponseParser parser(fields);
  const auto ec =
      parseWhole(parser, chunkedWithTrailer("Set-Cookie: evil=1\r\nX-Checksum: abc\r\n"));
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(parser.is_done());
  EXPECT_EQ(fields.size(), 2u);  // Content-Type, Transfer-Encoding
  EXPECT_EQ(fields[http::field::set_cookie], "");
  std::string head;
  appendRelayedResponseHead(head, parser, RelayedResponseHead{});
  EXPECT_EQ(head.find("evil"), std::string::npos) << head;
  EXPECT_EQ(head.find("abc"), std::string::npos) << head;
}

TEST(ResponseParserTest, ATrailerSectionOverTheHeaderLimitIsAHeaderLimit) {
  for (const std::string& trailer :
       {"X-U: " + std::string(200000, 'u') + "\r\n",  // one field over 64 KiB (audit 14 H2)
        [] {                                          // many small ones (audit 14 M2)
          std::string many;
          for (int i = 0; i < 5000; ++i) many += "X-T" + std::to_string(i) + ": 1\r\n";
          return many;
        }()}) {
    FlatFields fields;
    ResponseParser parser(fields);
    parser.header_limit(8192);
    boost::system::error_code ec;
    EXPECT_NO_THROW(ec = parseWhole(parser, chunkedWithTrailer(trailer)));
    EXPECT_EQ(ec, http::error::header_limit);
    EXPECT_FALSE(parser.is_done());
  }
  // Within the limit, it is read (and dropped).
  FlatFields fields;
  ResponseParser parser(fields);
  parser.header_limit(8192);
  EXPECT_FALSE(parseWhole(parser, chunkedWithTrailer("X-U: " + std::string(8000, 'u') + "\r\n")));
  EXPECT_TRUE(parser.is_done());
}

}  // namespace
}  // namespace spendgate::proxy
