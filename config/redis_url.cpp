#include "config/redis_url.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <cctype>
#include <charconv>

#include "core/http/url_port.hpp"

namespace spendgate::config {

namespace {

std::optional<int> parseDb(std::string_view text) {
  int db = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), db);
  if (ec != std::errc{} || ptr != text.data() + text.size() || db < 0) return std::nullopt;
  return db;
}

std::optional<RedisUrl> fail(std::string* error, std::string reason) {
  if (error != nullptr) *error = std::move(reason);
  return std::nullopt;
}

}  // namespace

std::optional<RedisUrl> RedisUrl::parse(std::string_view text, std::string* error) {
  auto parsed = boost::urls::parse_uri(text);
  if (!parsed) return fail(error, "not a valid URL");
  const boost::urls::url_view& url = *parsed;

  RedisUrl out;
  // Schemes are case-insensitive (RFC 3986 §3.1), as the config reads them: REDIS:// is redis://.
  std::string scheme(url.scheme());
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (url.has_userinfo()) {
    out.user = url.user();
    if (url.has_password()) out.password = std::string(url.password());
  }

  if (scheme == "redis") {
    out.host = url.host_address();
    if (out.host.empty()) return fail(error, "missing host");
    if (url.has_port()) {
      const auto port = core::urlPort(url.port());
      if (!port) return fail(error, "invalid port '" + std::string(url.port()) + "' (1-65535)");
      out.port = *port;
    }
    std::string_view path = url.encoded_path();
    if (!path.empty() && path != "/") {
      auto db = parseDb(path.substr(1));
      if (path.front() != '/' || !db) return fail(error, "path must be /<db number>");
      out.db = *db;
    }
  } else if (scheme == "unix") {
    if (!url.host_address().empty()) return fail(error, "unix:// URLs take no host");
    out.socket_path = url.path();
    if (out.socket_path.empty() || out.socket_path.front() != '/') {
      return fail(error, "unix:// needs an absolute socket path");
    }
  } else if (scheme == "rediss") {
    return fail(error,
                "rediss:// (TLS) is not supported; use redis:// to a Redis on a trusted network, "
                "or a local TLS tunnel (stunnel, ghostunnel) to a remote one");
  } else {
    return fail(error, "scheme must be redis:// or unix://");
  }

  for (auto param : url.params()) {
    if (param.key != "db") continue;
    auto db = param.has_value ? parseDb(param.value) : std::nullopt;
    if (!db) return fail(error, "db must be a number");
    out.db = *db;
  }
  return out;
}

std::string RedisUrl::redacted() const {
  std::string out = isUnix() ? "unix://" : "redis://";
  if (password) out += (user.empty() ? ":***@" : user + ":***@");
  if (isUnix()) return out + socket_path + "?db=" + std::to_string(db);
  const bool ipv6 = host.find(':') != std::string::npos;
  out += ipv6 ? "[" + host + "]" : host;
  return out + ":" + std::to_string(port) + "/" + std::to_string(db);
}

}  // namespace spendgate::config
