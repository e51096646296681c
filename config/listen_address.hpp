#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace spendgate::config {

/** Where a listener binds. IPv6 hosts are stored without brackets ("::1"). */
struct ListenAddress {
  std::string host;
  uint16_t port = 0;  // 0 = pick a free port (tests)

  /** @return "127.0.0.1:8080", or "[::1]:8080" for IPv6 hosts. */
  std::string toString() const;

  friend bool operator==(const ListenAddress&, const ListenAddress&) = default;
};

/**
 * Parses "HOST:PORT": an IPv4 address, a bracketed IPv6 address ("[::1]:8080") or a host name
 * ("localhost:8080"). The port is required and may be 0.
 * @param why when not null and parsing fails, receives a short reason.
 * @return the address, or nullopt when the text is not valid.
 */
std::optional<ListenAddress> parseListenAddress(std::string_view text, std::string* why = nullptr);

/**
 * @return true for 127.0.0.0/8, ::1 (with or without brackets), ::ffff:127.x.x.x and "localhost"
 * (any case, optional trailing dot).
 */
bool isLoopbackHost(std::string_view host);

}  // namespace spendgate::config
