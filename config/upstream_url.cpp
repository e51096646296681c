#include "config/upstream_url.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include "core/http/url_port.hpp"

namespace spendgate::config {

namespace {

std::optional<UpstreamUrl> fail(std::string* why, std::string reason) {
  if (why != nullptr) *why = std::move(reason);
  return std::nullopt;
}

std::string toLower(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return text;
}

/** Letters, digits, '-', '.' and '_' (seen in internal names): what a DNS name can hold. */
bool validHostName(std::string_view host) {
  for (const char c : host) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
    if (!ok) return false;
  }
  return !host.empty();
}

}  // namespace

std::string UpstreamUrl::hostHeader() const {
  std::string header = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (port != (tls ? 443 : 80)) header += ":" + std::to_string(port);
  return header;
}

std::optional<UpstreamUrl> parseUpstreamUrl(std::string_view text, std::string* why) {
  auto parsed = boost::urls::parse_uri(text);
  if (!parsed) return fail(why, "not an absolute URL, e.g. https://api.openai.com");
  const boost::urls::url_view url = *parsed;
  UpstreamUrl result;
  const std::string scheme = toLower(std::string(url.scheme()));
  if (scheme == "https") {
    result.tls = true;
    result.port = 443;
  } else if (scheme == "http") {
    result.tls = false;
    result.port = 80;
  } else {
    return fail(why, "scheme must be http or https, not '" + scheme + "'");
  }
  if (!url.has_authority() || url.encoded_host().empty()) return fail(why, "URL has no host");
  if (url.has_userinfo())
    return fail(why, "credentials in the URL are not allowed; use api_key_env");
  if (url.has_query()) return fail(why, "a query string is not allowed");
  if (url.has_fragment()) return fail(why, "a fragment is not allowed");
  switch (url.host_type()) {
    case boost::urls::host_type::name:
      result.host = toLower(url.host_name());
      // host_name() is percent-decoded: "%20" or "%0d%0a" would end up in DNS and in Host.
      if (!validHostName(result.host)) {
        return fail(why, "invalid host name '" + std::string(url.encoded_host()) + "'");
      }
      break;
    case boost::urls::host_type::ipv4:
      result.host = url.host_ipv4_address().to_string();
      break;
    case boost::urls::host_type::ipv6:
      result.host = url.host_ipv6_address().to_string();
      break;
    default:
      return fail(why, "unsupported host '" + std::string(url.encoded_host()) + "'");
  }
  if (url.has_port()) {
    if (url.port().empty()) return fail(why, "empty port");
    const auto port = core::urlPort(url.port());
    if (!port) return fail(why, "invalid port '" + std::string(url.port()) + "' (1-65535)");
    result.port = *port;
  }
  std::string path(url.encoded_path());
  // Boost.URL 1.81 ends the port at its last digit and reads the rest as a path that does not
  // start with '/' ("https://host:443x"): it would be sent as the request target "x/v1/...".
  if (!path.empty() && path.front() != '/') {
    if (url.has_port()) return fail(why, "invalid port '" + std::string(url.port()) + path + "'");
    return fail(why, "unexpected '" + path + "' after the host");
  }
  while (!path.empty() && path.back() == '/') path.pop_back();
  result.path_prefix = std::move(path);
  return result;
}

}  // namespace spendgate::config
