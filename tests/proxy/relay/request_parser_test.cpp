#include "proxy/relay/request_parser.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include "proxy/identity/caller_key.hpp"
#include "proxy/relay/header_rewrite.hpp"
#include "proxy/relay/request_decoding.hpp"

namespace spendgate::proxy {
namespace {

namespace http = boost::beast::http;
using FieldList = std::vector<std::tuple<http::field, std::string, std::string>>;

/**
 * The fields as basic_fields lists them: a repeated name moved next to the first field of that
 * name (FlatFields keeps it where it came; the order within one name is the same).
 */
FieldList grouped(const FieldList& fields) {
  FieldList out;
  std::vector<bool> taken(fields.size(), false);
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (taken[i]) continue;
    for (std::size_t j = i; j < fields.size(); ++j) {
      if (!taken[j] && boost::beast::iequals(std::get<1>(fields[j]), std::get<1>(fields[i]))) {
        out.push_back(fields[j]);
        taken[j] = true;
      }
    }
  }
  return out;
}

template <class Fields>
FieldList listOf(const Fields& fields) {
  FieldList out;
  for (const auto& field : fields) {
    out.emplace_back(field.name(), std::string(field.name_string()), std::string(field.value()));
  }
  return out;
}

/** A head as Beast reads it back (so fields in Beast's order), to compare two heads by. */
std::string asBeastReadsIt(const std::string& head) {
  http::request_parser<http::empty_body> parser;
  parser.header_limit(1 << 20);
  parser.eager(false);
  boost::system::error_code ec;
  parser.put(boost::asio::buffer(head), ec);
  if (!parser.is_header_done()) return "unparsable: " + head;
  const auto& h = parser.get();
  std::string out = std::string(h.method_string()) + " " + std::string(h.target()) + " " +
                    std::to_string(h.version()) + "\n";
  for (const auto& [id, name, value] : listOf(h)) out += name + ": " + value + "\n";
  return out;
}

const std::string_view kIdentityHeaders[] = {"x-spendgate-user", "x-spendgate-team"};

/** What the request path reads of a parsed request, and what it writes upstream from it. */
struct Parsed {
  std::vector<std::string> errors;  // every error put() gave, in order
  std::size_t consumed = 0;         // bytes the parser took (a pipelined request stays)
  http::verb method = http::verb::unknown;
  std::string method_string;
  std::string target;
  unsigned version = 0;
  FieldList fields;  // grouped as basic_fields lists them
  std::optional<std::uint64_t> content_length;
  bool keep_alive = false;  // the message's keep_alive(): what the session decides by
  bool chunked = false;
  bool done = false;
  std::string body;
  std::string expect;
  std::string caller_key;
  std::vector<std::string> other_credentials;
  std::vector<std::string> heads;  // as Beast reads them back: the upstream head, then rewrites
  std::optional<std::string> decoding_error;

  friend bool operator==(const Parsed&, const Parsed&) = default;
};

void PrintTo(const Parsed& p, std::ostream* os) {
  *os << "\nerrors:";
  for (const auto& e : p.errors) *os << " [" << e << "]";
  *os << "\nconsumed " << p.consumed << ", method " << p.method_string << ", target " << p.target
      << ", version " << p.version << ", length "
      << (p.content_length ? std::to_string(*p.content_length) : "-") << ", keep-alive "
      << p.keep_alive << ", chunked " << p.chunked << ", done " << p.done << "\nfields:";
  for (const auto& [id, name, value] : p.fields) *os << " [" << name << ": " << value << "]";
  *os << "\nbody [" << p.body << "] expect [" << p.expect << "] key [" << p.caller_key
      << "] others:";
  for (const auto& o : p.other_credentials) *os << " [" << o << "]";
  *os << "\ndecoding error [" << p.decoding_error.value_or("-") << "]\nheads:";
  for (const auto& h : p.heads) *os << "\n---\n" << h;
}

/** The upstream head for the request as it stands. */
template <class Head>
std::string upstreamHead(const Head& head, std::string_view prefix, std::size_t body_size) {
  std::string out;
  const std::string target(head.target());
  appendUpstreamRequestHead(out, head,
                            {.target_prefix = prefix,
                             .target = target,
                             .host = "api.example:443",
                             .body_size = body_size,
                             .drop = kIdentityHeaders});
  return out;
}

/**
 * Feeds `wire` to the parser `piece` bytes at a time (as they might arrive) and reads back what
 * the session reads, then rewrites the request as the session may: its upstream head, the body
 * decoded, the provider's key swapped in. `raw_heads` gets the heads' exact bytes.
 */
template <class Parser, class Message, class Fields, class KeepAlive>
Parsed drive(Parser& parser,
             Message& message,
             Fields& fields,
             KeepAlive&& keep_alive,
             std::string_view wire,
             std::size_t piece,
             std::vector<std::string>& raw_heads,
             FieldList& raw_fields) {
  Parsed out;
  parser.eager(true);
  std::size_t available = std::min(piece, wire.size());
  for (int guard = 0; guard < 100000 && !parser.is_done(); ++guard) {
    boost::system::error_code ec;
    const std::size_t used = parser.put(
        boost::asio::const_buffer(wire.data() + out.consumed, available - out.consumed), ec);
    out.consumed += used;
    if (ec) out.errors.push_back(ec.message());
    if (ec == http::error::need_more) {
      if (available == wire.size()) {
        parser.put_eof(ec);
        if (ec) out.errors.push_back("eof: " + ec.message());
        break;
      }
      available = std::min(available + piece, wire.size());
    } else if (ec) {
      break;
    }
  }
  if (!parser.is_header_done()) return out;
  out.method = message.method();
  out.method_string = std::string(message.method_string());
  out.target = std::string(message.target());
  out.version = message.version();
  raw_fields = listOf(fields);
  out.fields = grouped(raw_fields);
  if (const auto length = parser.content_length()) out.content_length = *length;
  out.keep_alive = keep_alive();
  out.chunked = parser.chunked();
  out.done = parser.is_done();
  out.body = message.body();
  out.expect = std::string(fields[http::field::expect]);
  const CallerKey key = findCallerKey(fields, message.target());
  out.caller_key = key.value;
  out.other_credentials = key.other_credentials;

  const auto record = [&](std::string head) {
    out.heads.push_back(asBeastReadsIt(head));
    raw_heads.push_back(std::move(head));
  };
  record(upstreamHead(message, "", message.body().size()));
  record(upstreamHead(message, "/openai/v1", 0));
  if (auto error = decodeRequestContent(message, 1 << 20)) {
    out.decoding_error = error->message;
  }
  record(upstreamHead(message, "", message.body().size()) + message.body());
  for (const auto format : {core::ProviderFormat::Gemini, core::ProviderFormat::OpenAI}) {
    std::string target(message.target());
    injectProviderKey(fields, target, key, format, "sk-provider");
    out.heads.push_back("target after the key swap: " + target);
    record(upstreamHead(message, "", 0));
  }
  return out;
}

struct Both {
  Parsed beast;
  Parsed flat;
  std::vector<std::string> beast_heads, flat_heads;
  FieldList beast_fields, flat_fields;
};

/** The target and body strings a connection keeps for its parsers (none: the parser's own). */
struct Kept {
  std::string target, body;
};

Both parseBoth(FlatFields& flat_fields,
               std::string_view wire,
               std::size_t piece,
               std::uint32_t header_limit = 8192,
               std::uint64_t body_limit = 1 << 20,
               Kept* kept = nullptr) {
  Both both;
  http::request_parser<http::string_body> beast;
  beast.header_limit(header_limit);
  beast.body_limit(body_limit);
  both.beast = drive(
      beast, beast.get(), beast.get(), [&beast] { return beast.get().keep_alive(); }, wire, piece,
      both.beast_heads, both.beast_fields);
  // Beast merges a chunked body's trailer fields into the head; RequestParser drops them (RFC
  // 9110 §6.5.1: never forwarded as headers). The wires' one trailer field is "Trailer-Field: x".
  const auto trailer = [](const auto& field) { return std::get<1>(field) == "Trailer-Field"; };
  std::erase_if(both.beast.fields, trailer);
  std::erase_if(both.beast_fields, trailer);
  for (auto* heads : {&both.beast.heads, &both.beast_heads}) {
    for (std::string& head : *heads) {
      for (const std::string_view line : {"Trailer-Field: x\r\n", "Trailer-Field: x\n"}) {
        if (const auto at = head.find(line); at != std::string::npos) head.erase(at, line.size());
      }
    }
  }
  std::optional<RequestParser> kept_flat, own_flat;
  if (kept) {
    kept_flat.emplace(flat_fields, kept->target, kept->body);
  } else {
    own_flat.emplace(flat_fields);
  }
  RequestParser& flat = kept ? *kept_flat : *own_flat;
  flat.header_limit(header_limit);
  flat.body_limit(body_limit);
  both.flat = drive(
      flat, flat, flat.fields(), [&flat] { return flat.keepAlive(); }, wire, piece, both.flat_heads,
      both.flat_fields);
  return both;
}

std::string gzip(std::string_view plain) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 9, Z_DEFLATED, MAX_WBITS + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, plain.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(plain.data()));
  zs.avail_in = static_cast<uInt>(plain.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

const std::vector<std::string>& requests() {
  static const std::vector<std::string> wires = [] {
    const std::string chat =
        R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]})";
    const std::string coded = gzip(chat);
    return std::vector<std::string>{
        // The bench's request.
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
        "Authorization: Bearer sk-bench\r\nContent-Type: application/json\r\nContent-Length: " +
            std::to_string(chat.size()) + "\r\n\r\n" + chat,
        // Chunked, with an extension and a trailer; Expect; hop-by-hop fields and one that
        // Connection names; identity headers in odd case and spacing; a second credential.
        "POST /v1/messages HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
        "Connection: keep-alive, X-Gone\r\nX-Gone: 1\r\nTE: trailers\r\nKeep-Alive: timeout=5\r\n"
        "X-API-Key:  sk-sg-virtual \r\nAuthorization: Basic dXNlcjpwYXNz\r\n"
        "X-Spendgate-User:\talice\t\r\nx-spendgate-team: t1\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer-Field: x\r\n\r\n",
        // HTTP/1.0 asking for keep-alive, and one not asking.
        "GET /v1/models HTTP/1.0\r\nConnection: Keep-Alive\r\nx-goog-api-key: AIza\r\n\r\n",
        "GET /v1/models HTTP/1.0\r\nHost: h\r\n\r\n",
        // Close, read from the first Connection field only; Proxy-Connection does not count.
        "GET /v1/models HTTP/1.1\r\nConnection: close\r\n\r\n",
        "GET /v1/models HTTP/1.1\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n",
        "GET /v1/models HTTP/1.1\r\nProxy-Connection: close\r\nProxy-Authorization: x\r\n\r\n",
        // A repeated name between others, and repeated credentials.
        "POST /v1/chat/completions HTTP/1.1\r\nX-A: 1\r\nAuthorization: Bearer sk-one\r\n"
        "X-B: 2\r\nx-a: 3\r\nauthorization: Bearer sk-two\r\nX-B: 4\r\napi-key: az\r\n"
        "Content-Length: 2\r\n\r\n{}",
        // A method Beast does not know; an absolute-form target with a key in the query.
        "FROB /v1/x HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        "GET http://api.example/v1beta/models?alt=sse&key=AIzaQ&%6Bey=sk%2Dsg-q HTTP/1.1\r\n"
        "Host: api.example\r\n\r\n",
        // A gzip body with the digests of its coded bytes; a coding nobody can undo; a corrupt one.
        "POST /v1/chat/completions HTTP/1.1\r\nContent-Encoding: gzip\r\nContent-MD5: abc\r\n"
        "Digest: sha-256=x\r\ncontent-digest: sha-256=:y:\r\nRepr-Digest: z\r\nContent-Length: " +
            std::to_string(coded.size()) + "\r\n\r\n" + coded,
        "POST /v1/chat/completions HTTP/1.1\r\nContent-Encoding: zstd\r\nContent-Length: 2\r\n\r\n"
        "{}",
        "POST /v1/chat/completions HTTP/1.1\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\n"
        "abc",
        // Two requests in one read: the parser stops after the first.
        "POST /v1/embeddings HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"
        "GET /v1/models HTTP/1.1\r\n\r\n",
        // Malformed: lengths that disagree, a bad chunk size, a field without a colon, a field
        // with a bad name, both framings, a body cut short, a bad version.
        "POST /v1/x HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        "POST /v1/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
        "GET /v1/x HTTP/1.1\r\nNo colon here\r\n\r\n",
        "GET /v1/x HTTP/1.1\r\nBad Name: v\r\n\r\n",
        "POST /v1/x HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
        "2\r\n{}\r\n0\r\n\r\n",
        "POST /v1/x HTTP/1.1\r\nContent-Length: 100\r\n\r\nshort",
        "GET /v1/x HTTP/9.1\r\n\r\n",
    };
  }();
  return wires;
}

TEST(RequestParserTest, ReadsAndRewritesWhatBeastsRequestParserDoes) {
  FlatFields fields;  // one for every request, as a connection keeps it
  for (const std::string& wire : requests()) {
    for (const std::size_t piece : {std::size_t{1}, std::size_t{7}, wire.size()}) {
      const Both both = parseBoth(fields, wire, piece);
      EXPECT_EQ(both.flat, both.beast) << wire << "\npiece " << piece;
      // Where no name repeats between others, the heads are byte for byte the same.
      if (both.flat_fields == both.beast_fields) {
        EXPECT_EQ(both.flat_heads, both.beast_heads) << wire << "\npiece " << piece;
      }
    }
  }
}

TEST(RequestParserTest, TargetAndBodyKeptByTheConnectionAreReadAsTheParsersOwn) {
  // Every request after every other, in kept strings that still hold the one before's.
  FlatFields fields;
  Kept kept;
  for (const std::string& before : requests()) {
    for (const std::string& wire : requests()) {
      (void)parseBoth(fields, before, before.size(), 8192, 1 << 20, &kept);
      const Both both = parseBoth(fields, wire, 7, 8192, 1 << 20, &kept);
      EXPECT_EQ(both.flat, both.beast) << before << "\nthen\n" << wire;
    }
  }
  for (const std::string& wire : requests()) {  // header and body limits
    EXPECT_EQ(parseBoth(fields, wire, 5, 40, 1 << 20, &kept).flat,
              parseBoth(fields, wire, 5, 40).flat);
    EXPECT_EQ(parseBoth(fields, wire, 5, 8192, 8, &kept).flat,
              parseBoth(fields, wire, 5, 8192, 8).flat);
  }
}

TEST(RequestParserTest, AConnectionKeepsNoLargeBody) {
  FlatFields fields;
  Kept kept;
  const std::string large(RequestParser::kKeptBodyCapacity + 1, 'x');
  const std::string wire =
      "POST /v1/chat/completions HTTP/1.1\r\nContent-Length: " + std::to_string(large.size()) +
      "\r\n\r\n" + large;
  const Both both = parseBoth(fields, wire, wire.size(), 8192, 1 << 20, &kept);
  EXPECT_EQ(both.flat, both.beast);
  EXPECT_EQ(both.flat.body, large);
  EXPECT_LE(kept.body.capacity(), RequestParser::kKeptBodyCapacity);  // let go with the parser
  const Both small = parseBoth(fields, requests()[0], 7, 8192, 1 << 20, &kept);
  EXPECT_EQ(small.flat, small.beast);
  EXPECT_EQ(kept.body, small.flat.body);  // a small one stays for the next request
}

TEST(RequestParserTest, LimitsAnswerAsBeastsDo) {
  FlatFields fields;
  for (const std::size_t wire : {0, 1}) {  // the bench's (Content-Length), the chunked one
    const Both header = parseBoth(fields, requests()[wire], 5, 40);
    EXPECT_EQ(header.flat, header.beast);
    EXPECT_EQ(header.flat.errors.back(),
              http::make_error_code(http::error::header_limit).message());
    const Both body = parseBoth(fields, requests()[wire], 5, 8192, 8);
    EXPECT_EQ(body.flat, body.beast);
  }
  const Both body = parseBoth(fields, requests()[0], 5, 8192, 8);
  EXPECT_EQ(body.flat.errors.back(), http::make_error_code(http::error::body_limit).message());
}

TEST(RequestParserTest, ARepeatedNameStaysWhereItCame) {
  FlatFields fields;
  const Both both = parseBoth(fields, requests()[7], 4096);
  ASSERT_GE(both.flat_fields.size(), 4u);
  EXPECT_EQ(std::get<1>(both.flat_fields[2]), "X-B");
  EXPECT_EQ(std::get<1>(both.flat_fields[3]), "x-a");
  EXPECT_NE(both.flat_fields, both.beast_fields);  // Beast moves x-a up to X-A
  EXPECT_NE(both.flat_heads[0].find("X-B: 2\r\nx-a: 3\r\n"), std::string::npos);
}

/** A chunked request whose trailer section is `trailer` (each line with its CRLF). */
std::string chunkedRequestWithTrailer(const std::string& trailer) {
  return "POST /v1/chat/completions HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
         "2\r\n{}\r\n0\r\n" +
         trailer + "\r\n";
}

/** Feeds the whole of `wire` at once. @return the last error */
boost::system::error_code parseWhole(RequestParser& parser, const std::string& wire) {
  boost::system::error_code ec;
  std::size_t used = 0;
  parser.eager(true);
  while (used < wire.size() && !parser.is_done()) {
    const std::size_t n =
        parser.put(boost::asio::buffer(wire.data() + used, wire.size() - used), ec);
    used += n;
    if (ec || n == 0) break;
  }
  return ec;
}

TEST(RequestParserTest, TrailerFieldsAreCountedAgainstTheHeaderLimitAndDropped) {
  // audit 14 H1: a 70,000-byte trailer field made basic_fields (and FlatFields) throw inside the
  // session's read, which ended the process.
  for (const std::string& trailer : {"X-T: " + std::string(70000, 'a') + "\r\n", [] {
                                       std::string many;
                                       for (int i = 0; i < 2000; ++i)
                                         many += "X-T" + std::to_string(i) + ": 1\r\n";
                                       return many;
                                     }()}) {
    FlatFields fields;
    RequestParser parser(fields);
    parser.header_limit(8192);
    boost::system::error_code ec;
    EXPECT_NO_THROW(ec = parseWhole(parser, chunkedRequestWithTrailer(trailer)));
    EXPECT_EQ(ec, http::error::header_limit);
  }
  // Within the limit: read, and not among the fields (so not forwarded, nor read as a key).
  FlatFields fields;
  RequestParser parser(fields);
  parser.header_limit(8192);
  EXPECT_FALSE(parseWhole(parser, chunkedRequestWithTrailer("Authorization: Bearer sk-trailer\r\n"
                                                            "X-Checksum: abc\r\n")));
  EXPECT_TRUE(parser.is_done());
  EXPECT_EQ(parser.body(), "{}");
  EXPECT_EQ(fields.size(), 2u);  // Host, Transfer-Encoding
  EXPECT_EQ(fields[http::field::authorization], "");
}

TEST(RequestParserTest, AHeaderFieldBeastCouldNotHoldIsAHeaderLimitNotAThrow) {
  // audit 14 H3: with a header limit over 64 KiB, a 70,000-byte value threw.
  const std::string wire =
      "GET /v1/models HTTP/1.1\r\nX-Big: " + std::string(70000, '0') + "\r\n\r\n";
  FlatFields fields;
  RequestParser parser(fields);
  parser.header_limit(1 << 20);
  boost::system::error_code ec;
  EXPECT_NO_THROW(ec = parseWhole(parser, wire));
  EXPECT_EQ(ec, http::error::header_limit);
}

}  // namespace
}  // namespace spendgate::proxy
