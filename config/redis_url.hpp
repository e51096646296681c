#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace spendgate::config {

/**
 * Where and how to reach Redis, parsed from a URL:
 *   redis://host:port/db, redis://:password@host:port/db, redis://user:password@host:port/db,
 *   unix:///path/to.sock (optionally unix://:password@/path/to.sock?db=N).
 * Defaults: port 6379, db 0. Percent-encoded user and password are decoded. TLS (`rediss://`)
 * is not supported and is rejected.
 */
struct RedisUrl {
  /** Host name or IP literal (IPv6 without brackets); empty for a Unix socket. */
  std::string host;
  std::uint16_t port = 6379;
  /** Unix socket path; empty for TCP. */
  std::string socket_path;
  /** ACL user (Redis 6+); empty means the legacy single-password AUTH. */
  std::string user;
  std::optional<std::string> password;
  int db = 0;

  bool isUnix() const { return !socket_path.empty(); }

  /**
   * @param text the URL.
   * @param error set to a human-readable reason when parsing fails (never contains the password).
   * @return the parsed URL, or nullopt.
   */
  static std::optional<RedisUrl> parse(std::string_view text, std::string* error = nullptr);

  /** The URL without credentials, for logs. */
  std::string redacted() const;
};

}  // namespace spendgate::config
