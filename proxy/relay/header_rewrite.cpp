#include "proxy/relay/header_rewrite.hpp"

#include <array>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <boost/beast/http/status.hpp>
#include <charconv>
#include <span>
#include <vector>

#include "proxy/relay/wire_format.hpp"

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

/**
 * The header names listed in Connection fields (views into `fields`). Most heads name one or two
 * ("keep-alive", "close"): they go in `few`, and only more than fit there allocate (`more`).
 */
template <class Fields>
std::span<const std::string_view> namedByConnection(const Fields& fields,
                                                    std::array<std::string_view, 4>& few,
                                                    std::vector<std::string_view>& more) {
  std::size_t count = 0;
  for (const auto& field : fields) {
    if (field.name() != http::field::connection) continue;
    for (const auto token : http::token_list{field.value()}) {
      const std::string_view name(token.data(), token.size());
      if (more.empty() && count < few.size()) {
        few[count++] = name;
        continue;
      }
      if (more.empty()) more.assign(few.begin(), few.end());
      more.push_back(name);
    }
  }
  if (!more.empty()) return more;
  return std::span<const std::string_view>(few.data(), count);
}

/**
 * Appends every field that crosses the proxy: not hop-by-hop, not one `replaced` says the
 * proxy writes itself, and (for names Beast does not know) not one listed in `drop`.
 */
template <class Fields, class Replaced>
void appendCrossingFields(std::string& out,
                          const Fields& fields,
                          std::span<const std::string_view> drop,
                          Replaced&& replaced) {
  std::array<std::string_view, 4> few;
  std::vector<std::string_view> more;
  const std::span<const std::string_view> named = namedByConnection(fields, few, more);
  for (const auto& field : fields) {
    const http::field id = field.name();
    if (isHopByHop(id) || replaced(id)) continue;
    const std::string_view name = field.name_string();
    if (id == http::field::unknown && isListed(name, drop)) continue;
    if (!named.empty() && isListed(name, named)) continue;
    appendHeaderLine(out, name, field.value());
  }
}

void appendContentLength(std::string& out, std::size_t length) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, length).ptr;
  appendHeaderLine(out, "Content-Length", std::string_view(digits, end - digits));
}

}  // namespace

namespace {

/** appendUpstreamRequestHead for any head with Beast's reading interface (method, fields). */
template <class Head, class Fields>
void appendRequestHead(std::string& out,
                       const Head& head,
                       const Fields& fields,
                       const UpstreamRequestHead& how) {
  out.append(head.method_string());
  out += ' ';
  out.append(how.target_prefix);
  out.append(how.target);
  out += " HTTP/1.1\r\n";
  appendCrossingFields(out, fields, how.drop, [](http::field id) {
    return id == http::field::expect || id == http::field::host ||
           id == http::field::accept_encoding || id == http::field::content_length;
  });
  appendHeaderLine(out, "Host", how.host);
  appendHeaderLine(out, "Accept-Encoding", "identity");
  // As prepare_payload(): methods that carry a body say so even when it is empty.
  const http::verb method = head.method();
  if (how.body_size > 0 || method == http::verb::post || method == http::verb::put ||
      method == http::verb::options) {
    appendContentLength(out, how.body_size);
  }
  out += "\r\n";
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
  out += "HTTP/1.1 ";
  out.append(status, sizeof status);
  out += ' ';
  const std::string_view reason = head.reason();
  out.append(reason.empty() ? std::string_view(http::obsolete_reason(head.result())) : reason);
  out += "\r\n";
  const bool own_length = how.framing != BodyFraming::AsUpstream || how.decoded;
  appendCrossingFields(out, fields, how.own, [&how, own_length](http::field id) {
    return (id == http::field::content_length && own_length) ||
           (id == http::field::content_encoding && how.decoded);
  });
  switch (how.framing) {
    case BodyFraming::Length:
      appendContentLength(out, how.content_length);
      break;
    case BodyFraming::Chunked:
      appendHeaderLine(out, "Transfer-Encoding", "chunked");
      break;
    case BodyFraming::AsUpstream:
    case BodyFraming::UntilClose:
      break;
  }
  if (!how.keep_alive) appendHeaderLine(out, "Connection", "close");
  out.append(how.extra);
  out += "\r\n";
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
  const auto query_start = target.find('?');
  if (query_start == std::string_view::npos) return std::string(target);
  std::string out(target.substr(0, query_start + 1));
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
    if (eq != std::string_view::npos &&
        (boost::beast::iequals(name, "key") || boost::beast::iequals(name, "api-key") ||
         boost::beast::iequals(name, "api_key"))) {
      out.append(name).append("=REDACTED");
    } else {
      out.append(param);
    }
  }
  return out;
}

}  // namespace spendgate::proxy
