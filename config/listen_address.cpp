#include "config/listen_address.hpp"

#include <boost/url/ipv4_address.hpp>
#include <boost/url/ipv6_address.hpp>
#include <charconv>

namespace spendgate::config {

namespace {

bool fail(std::string* why, std::string reason) {
  if (why != nullptr) *why = std::move(reason);
  return false;
}

bool isHostNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

}  // namespace

std::string ListenAddress::toString() const {
  const std::string port_text = std::to_string(port);
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + port_text;
  return host + ":" + port_text;
}

std::optional<ListenAddress> parseListenAddress(std::string_view text, std::string* why) {
  ListenAddress address;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) {
      fail(why, "missing ']' after the IPv6 address");
      return std::nullopt;
    }
    const std::string_view ip = text.substr(1, close - 1);
    if (!boost::urls::parse_ipv6_address(ip)) {
      fail(why, "'" + std::string(ip) + "' is not an IPv6 address");
      return std::nullopt;
    }
    if (close + 1 >= text.size() || text[close + 1] != ':') {
      fail(why, "expected ':PORT' after ']'");
      return std::nullopt;
    }
    address.host = std::string(ip);
    port_text = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      fail(why, "expected HOST:PORT, e.g. 127.0.0.1:8080");
      return std::nullopt;
    }
    const std::string_view host = text.substr(0, colon);
    if (host.find(':') != std::string_view::npos) {
      fail(why, "IPv6 addresses need brackets, e.g. [::1]:8080");
      return std::nullopt;
    }
    if (host.empty()) {
      fail(why, "missing host; use 0.0.0.0:PORT to listen on every interface");
      return std::nullopt;
    }
    for (char c : host) {
      if (!isHostNameChar(c)) {
        fail(why, "'" + std::string(host) + "' is not a valid host");
        return std::nullopt;
      }
    }
    if (host.find_first_not_of("0123456789.") == std::string_view::npos &&
        !boost::urls::parse_ipv4_address(host)) {
      fail(why, "'" + std::string(host) + "' is not an IPv4 address");
      return std::nullopt;
    }
    address.host = std::string(host);
    port_text = text.substr(colon + 1);
  }
  if (port_text.empty()) {
    fail(why, "missing port");
    return std::nullopt;
  }
  unsigned port = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535 ||
      port_text.front() == '+') {
    fail(why, "'" + std::string(port_text) + "' is not a port (0-65535)");
    return std::nullopt;
  }
  address.port = static_cast<uint16_t>(port);
  return address;
}

bool isLoopbackHost(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (equalsIgnoreCase(host, "localhost") || equalsIgnoreCase(host, "localhost.")) return true;
  if (auto v4 = boost::urls::parse_ipv4_address(host)) return v4->is_loopback();
  if (auto v6 = boost::urls::parse_ipv6_address(host)) {
    if (v6->is_loopback()) return true;
    // ::ffff:127.0.0.1 and friends.
    return v6->is_v4_mapped() && v6->to_bytes()[12] == 127;
  }
  return false;
}

}  // namespace spendgate::config
