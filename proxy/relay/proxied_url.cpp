#include "proxy/relay/proxied_url.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

namespace spendgate::proxy {

namespace urls = boost::urls;
namespace http = boost::beast::http;

namespace {

std::string_view trimBlanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<std::string> proxiedUrl(std::string_view url,
                                      const config::UpstreamUrl& upstream,
                                      std::string_view client_origin) {
  if (client_origin.empty()) return std::nullopt;
  const auto parsed = urls::parse_absolute_uri(url);
  if (!parsed) return std::nullopt;
  const urls::url_view& u = *parsed;
  const urls::scheme scheme = u.scheme_id();
  if (scheme != (upstream.tls ? urls::scheme::https : urls::scheme::http)) return std::nullopt;
  if (u.has_userinfo()) return std::nullopt;
  // Hosts compare as names do (any case); an IPv6 literal without its brackets, as UpstreamUrl
  // keeps it.
  const std::string_view host = u.encoded_host_address();
  if (!boost::beast::iequals(host, upstream.host)) return std::nullopt;
  const std::uint16_t default_port = upstream.tls ? 443 : 80;
  const std::uint16_t port = u.has_port() && !u.port().empty() ? u.port_number() : default_port;
  if ((u.has_port() && !u.port().empty() && u.port_number() == 0) || port != upstream.port) {
    return std::nullopt;
  }
  // The proxy forwards its path P to prefix + P, so the session path minus the prefix is the
  // path to call on the proxy.
  std::string_view path = u.encoded_path();
  const std::string_view prefix = upstream.path_prefix;
  if (!path.starts_with(prefix)) return std::nullopt;
  path.remove_prefix(prefix.size());
  if (!path.empty() && path.front() != '/') return std::nullopt;  // "/gemini2" under "/gemini"
  std::string out(client_origin);
  out += path.empty() ? std::string_view("/") : path;
  if (u.has_query()) {
    out += '?';
    out += u.encoded_query();
  }
  return out;
}

std::string clientOrigin(std::string_view host, std::string_view forwarded_proto) {
  // A Host that is not a plain authority (blanks, a path, userinfo) would make a URL that points
  // elsewhere: none at all is better.
  if (host.empty()) return {};
  for (const char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_';
    if (!ok) return {};
  }
  // Behind several proxies the first one names the client's scheme: "https, http".
  const std::string_view proto = trimBlanks(forwarded_proto.substr(0, forwarded_proto.find(',')));
  const bool https = boost::beast::iequals(proto, "https");
  std::string origin(https ? "https://" : "http://");
  origin += host;
  return origin;
}

std::string_view forwardedProto(std::string_view forwarded) {
  std::string_view element = forwarded.substr(0, forwarded.find(','));
  while (!element.empty()) {
    const auto semicolon = element.find(';');
    const std::string_view pair = trimBlanks(element.substr(0, semicolon));
    element =
        semicolon == std::string_view::npos ? std::string_view{} : element.substr(semicolon + 1);
    const auto eq = pair.find('=');
    if (eq == std::string_view::npos ||
        !boost::beast::iequals(trimBlanks(pair.substr(0, eq)), "proto")) {
      continue;
    }
    std::string_view value = trimBlanks(pair.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    return value;
  }
  return {};
}

std::string clientOrigin(const FlatFields& request_fields) {
  // The scheme the client used, as a TLS-terminating balancer reports it: X-Forwarded-Proto,
  // else RFC 7239's Forwarded proto=.
  std::string_view forwarded_proto;
  std::string_view forwarded;
  for (const auto& field : request_fields) {
    if (field.name() == http::field::unknown && forwarded_proto.empty() &&
        boost::beast::iequals(field.name_string(), "x-forwarded-proto")) {
      forwarded_proto = field.value();
    } else if (field.name() == http::field::forwarded && forwarded.empty()) {
      forwarded = field.value();
    }
  }
  if (forwarded_proto.empty()) forwarded_proto = forwardedProto(forwarded);
  return clientOrigin(request_fields[http::field::host], forwarded_proto);
}

}  // namespace spendgate::proxy
