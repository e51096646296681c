#include "proxy/relay/header_rewrite.hpp"

#include <algorithm>
#include <array>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <boost/beast/http/status.hpp>
#include <charconv>
#include <cstring>
#include <span>
#include <vector>

#include "core/text/short_copy.hpp"
#include "proxy/http/own_answer_date.hpp"
#include "proxy/identity/query_key.hpp"

namespace spendgate::proxy {

namespace http = boost::beast::http;

namespace {

bool isHopByHop(http::field name) {
  switch (name) {
    case http::field::connection:
    case http::field::keep_alive:
    case http::field::proxy_connection:
    case http::field::te:
    case http::field::trailer:
    case http::field::transfer_encoding:
    case http::field::upgrade:
    case http::field::proxy_authenticate:
    case http::field::proxy_authorization:
      return true;
    default:
      return false;
  }
}

bool isListed(std::string_view name, std::span<const std::string_view> names) {
  for (const auto listed : names) {
    if (boost::beast::iequals(name, listed)) return true;
  }
  return false;
}

/** RFC 9110's tchar, as Beast's token_list reads it (detail::is_token_char). */
constexpr std::array<bool, 256> kTokenChars = [] {
  std::array<bool, 256> table{};
  for (int c = '0'; c <= '9'; ++c) table[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) table[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) table[c] = true;
  for (const char c : std::string_view("!#$%&'*+-.^_`|~"))
    table[static_cast<unsigned char>(c)] = true;
  return table;
}();

bool isTokenChar(char c) { return kTokenChars[static_cast<unsigned char>(c)]; }

/**
 * The header names listed in Connection fields (views into `fields`). Most heads name one or two
 * ("keep-alive", "close"): they go in `few`, and only more than fit there allocate (`more`).
 */
template <class Fields>
std::span<const std::string_view> namedByConnection(const Fields& fields,
                                                    std::array<std::string_view, 4>& few,
                                                    std::vector<std::string_view>& more) {
  std::size_t count = 0;
  const auto named = [&](std::string_view name) {
    if (more.empty() && count < few.size()) {
      few[count++] = name;
      return;
    }
    if (more.empty()) more.assign(few.begin(), few.end());
    more.push_back(name);
  };
  for (const auto& field : fields) {
    if (field.name() != http::field::connection) continue;
    const std::string_view value = field.value();
    // The usual value is one token ("keep-alive", "close"): a value of token characters only
    // is exactly that one token for token_list too, found without its iterator.
    if (!value.empty() && std::all_of(value.begin(), value.end(), isTokenChar)) {
      named(value);
      continue;
    }
    for (const auto token : http::token_list{value})
      named(std::string_view(token.data(), token.size()));
  }
  if (!more.empty()) return more;
  return std::span<const std::string_view>(few.data(), count);
}

// A head is written with one resize of `out` to the most it can take and a cursor, then cut to
// what it took: a resize per line fills and checks capacity a dozen times per head.

char* put(char* p, std::string_view text) {
  core::copyShort(p, text.data(), text.size());  // mostly short names and values: no libc call
  return p + text.size();
}

/** Writes "name: value\r\n" (as appendHeaderLine appends it). */
char* putLine(char* p, std::string_view name, std::string_view value) {
  p = put(p, name);
  *p++ = ':';
  *p++ = ' ';
  p = put(p, value);
  *p++ = '\r';
  *p++ = '\n';
  return p;
}

/** The longest a "Content-Length: n\r\n" line can be. */
constexpr std::size_t kMaxContentLengthLine = 14 + 2 + 20 + 2;

char* putContentLength(char* p, std::size_t length) {
  p = put(p, "Content-Length: ");
  p = std::to_chars(p, p + 20, length).ptr;
  *p++ = '\r';
  *p++ = '\n';
  return p;
}

/** The most the fields' lines can take ("name: value\r\n" each). */
std::size_t linesBound(const FlatFields& fields) { return fields.textSize() + 4 * fields.size(); }

template <class Fields>
std::size_t linesBound(const Fields& fields) {
  std::size_t bound = 0;
  for (const auto& field : fields) bound += field.name_string().size() + field.value().size() + 4;
  return bound;
}

/** Makes `out` `bound` bytes longer. @return where the head starts */
char* makeRoom(std::string& out, std::size_t bound) {
  const std::size_t at = out.size();
  out.resize(at + bound);
  return out.data() + at;
}

/** Cuts `out` to end at `end` (written by the cursor from makeRoom). */
void cutAt(std::string& out, const char* end) {
  out.resize(static_cast<std::size_t>(end - out.data()));
}

/**
 * Writes every field that crosses the proxy: not hop-by-hop (also those Connection names), not
 * one `replaced` says the proxy writes itself, and (for names Beast does not know) not one
 * listed in `drop`. `written` is told the name of each field written.
 */
template <class Fields, class Replaced, class Written>
char* putCrossingFields(char* p,
                        const Fields& fields,
                        std::span<const std::string_view> drop,
                        Replaced&& replaced,
                        Written&& written) {
  std::array<std::string_view, 4> few;
  std::vector<std::string_view> more;
  const std::span<const std::string_view> named = namedByConnection(fields, few, more);
  for (const auto& field : fields) {
    const http::field id = field.name();
    if (isHopByHop(id) || replaced(id)) continue;
    const std::string_view name = field.name_string();
    if (id == http::field::unknown && isListed(name, drop)) continue;
    if (!named.empty() && isListed(name, named)) continue;
    p = putLine(p, name, field.value());
    written(id);
  }
  return p;
}

}  // namespace

namespace {

/** appendUpstreamRequestHead for any head with Beast's reading interface (method, fields). */
template <class Head, class Fields>
void appendRequestHead(std::string& out,
                       const Head& head,
                       const Fields& fields,
                       const UpstreamRequestHead& how) {
  const std::string_view method_string = head.method_string();
  constexpr std::string_view kVersion = " HTTP/1.1\r\n";
  constexpr std::string_view kAcceptEncoding = "Accept-Encoding: identity\r\n";
  const std::size_t bound = method_string.size() + 1 + how.target_prefix.size() +
                            how.target.size() + kVersion.size() + linesBound(fields) +
                            (6 + how.host.size() + 2) + kAcceptEncoding.size() +
                            kMaxContentLengthLine + 2;
  char* p = makeRoom(out, bound);
  p = put(p, method_string);
  *p++ = ' ';
  p = put(p, how.target_prefix);
  p = put(p, how.target);
  p = put(p, kVersion);
  p = putCrossingFields(
      p, fields, how.drop,
      [](http::field id) {
        return id == http::field::expect || id == http::field::host ||
               id == http::field::accept_encoding || id == http::field::content_length;
      },
      [](http::field) {});
  p = putLine(p, "Host", how.host);
  p = put(p, kAcceptEncoding);
  // As prepare_payload(): methods that carry a body say so even when it is empty.
  const http::verb method = head.method();
  if (how.body_size > 0 || method == http::verb::post || method == http::verb::put ||
      method == http::verb::options) {
    p = putContentLength(p, how.body_size);
  }
  *p++ = '\r';
  *p++ = '\n';
  cutAt(out, p);
}

}  // namespace

void appendUpstreamRequestHead(std::string& out,
                               const http::request_header<>& head,
                               const UpstreamRequestHead& how) {
  appendRequestHead(out, head, head, how);
}

void appendUpstreamRequestHead(std::string& out,
                               const RequestParser& head,
                               const UpstreamRequestHead& how) {
  appendRequestHead(out, head, head.fields(), how);
}

namespace {

/** appendRelayedResponseHead for any head with Beast's reading interface (status, fields). */
template <class Head, class Fields>
void appendRelayedHead(std::string& out,
                       const Head& head,
                       const Fields& fields,
                       const RelayedResponseHead& how) {
  // Always three digits (RFC 9112 status-code): Beast reads "020" from an upstream as 20, which
  // written back as "20" is a status line no client can parse.
  const unsigned code = head.result_int() % 1000;  // Beast's parser gives 0..999
  const char status[3] = {static_cast<char>('0' + code / 100),
                          static_cast<char>('0' + code / 10 % 10),
                          static_cast<char>('0' + code % 10)};
  const std::string_view given = head.reason();
  const std::string_view reason =
      given.empty() ? std::string_view(http::obsolete_reason(head.result())) : given;
  constexpr std::string_view kChunked = "Transfer-Encoding: chunked\r\n";
  constexpr std::string_view kClose = "Connection: close\r\n";
  constexpr std::size_t kDateLine = 6 + 29 + 2;  // "Date: " IMF-fixdate CRLF
  const std::size_t bound = 9 + sizeof status + 1 + reason.size() + 2 + linesBound(fields) +
                            kDateLine + std::max(kMaxContentLengthLine, kChunked.size()) +
                            kClose.size() + how.extra.size() + 2;
  char* p = makeRoom(out, bound);
  p = put(p, "HTTP/1.1 ");
  p = put(p, std::string_view(status, sizeof status));
  *p++ = ' ';
  p = put(p, reason);
  *p++ = '\r';
  *p++ = '\n';
  const bool own_length = how.framing != BodyFraming::AsUpstream || how.decoded;
  // Whether a Date went out, not whether the upstream sent one: one that Connection names is
  // dropped as hop-by-hop, and the answer still needs a Date.
  bool dated = false;
  p = putCrossingFields(
      p, fields, how.own,
      [&how, own_length](http::field id) {
        return (id == http::field::content_length && own_length) ||
               (id == http::field::content_encoding && how.decoded);
      },
      [&dated](http::field id) { dated = dated || id == http::field::date; });
  if (how.date_if_missing && !dated) p = putLine(p, "Date", ownAnswerDate());
  switch (how.framing) {
    case BodyFraming::Length:
      p = putContentLength(p, how.content_length);
      break;
    case BodyFraming::Chunked:
      p = put(p, kChunked);
      break;
    case BodyFraming::AsUpstream:
    case BodyFraming::UntilClose:
      break;
  }
  if (!how.keep_alive) p = put(p, kClose);
  p = put(p, how.extra);
  *p++ = '\r';
  *p++ = '\n';
  cutAt(out, p);
}

}  // namespace

void appendRelayedResponseHead(std::string& out,
                               const http::response_header<>& head,
                               const RelayedResponseHead& how) {
  appendRelayedHead(out, head, head, how);
}

void appendRelayedResponseHead(std::string& out,
                               const ResponseParser& head,
                               const RelayedResponseHead& how) {
  appendRelayedHead(out, head, head.fields(), how);
}

std::string redactTarget(std::string_view target) {
  std::string out;
  redactTarget(target, out);
  return out;
}

void redactTarget(std::string_view target, std::string& out) {
  const auto query_start = target.find('?');
  if (query_start == std::string_view::npos) {
    out.assign(target);
    return;
  }
  out.assign(target.substr(0, query_start + 1));
  std::string_view query = target.substr(query_start + 1);
  bool first = true;
  while (!query.empty()) {
    const auto amp = query.find('&');
    std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (!first) out += '&';
    first = false;
    const auto eq = param.find('=');
    const std::string_view name = param.substr(0, eq);
    // Names compared decoded, as identity reads them: "?%6Bey=" is the key too.
    if (eq != std::string_view::npos && isCredentialParameterName(name)) {
      out.append(name).append("=REDACTED");
    } else {
      out.append(param);
    }
  }
}

}  // namespace spendgate::proxy
