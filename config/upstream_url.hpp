#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace spendgate::config {

/** A provider's base_url, split for the upstream client. */
struct UpstreamUrl {
  bool tls = true;
  std::string host;         // lower-case name, IPv4, or IPv6 without brackets
  uint16_t port = 443;      // from the URL, else 443 (https) / 80 (http)
  std::string path_prefix;  // "/openai/v1" for ".../openai/v1/"; "" when the URL has no path

  /** @return the Host header value: "host", "host:8443", "[::1]:8443" (port only when not default).
   */
  std::string hostHeader() const;

  friend bool operator==(const UpstreamUrl&, const UpstreamUrl&) = default;
};

/**
 * Parses an absolute http(s) URL with a host and no userinfo, query or fragment.
 * @param why when not null and parsing fails, receives a short reason.
 */
std::optional<UpstreamUrl> parseUpstreamUrl(std::string_view text, std::string* why = nullptr);

}  // namespace spendgate::config
