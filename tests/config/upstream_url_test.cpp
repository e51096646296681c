#include "config/upstream_url.hpp"

#include <gtest/gtest.h>

namespace spendgate::config {
namespace {

TEST(ParseUpstreamUrl, DefaultsPortFromScheme) {
  EXPECT_EQ(parseUpstreamUrl("https://api.openai.com"),
            (UpstreamUrl{true, "api.openai.com", 443, ""}));
  EXPECT_EQ(parseUpstreamUrl("http://127.0.0.1"), (UpstreamUrl{false, "127.0.0.1", 80, ""}));
}

TEST(ParseUpstreamUrl, KeepsExplicitPortAndPathWithoutTrailingSlash) {
  EXPECT_EQ(parseUpstreamUrl("http://127.0.0.1:9000/"),
            (UpstreamUrl{false, "127.0.0.1", 9000, ""}));
  EXPECT_EQ(parseUpstreamUrl("https://gw.example.com:8443/openai/v1/"),
            (UpstreamUrl{true, "gw.example.com", 8443, "/openai/v1"}));
  EXPECT_EQ(parseUpstreamUrl("https://gw.example.com/proxy"),
            (UpstreamUrl{true, "gw.example.com", 443, "/proxy"}));
}

TEST(ParseUpstreamUrl, Ipv6HostHasNoBrackets) {
  EXPECT_EQ(parseUpstreamUrl("http://[::1]:9000"), (UpstreamUrl{false, "::1", 9000, ""}));
}

TEST(ParseUpstreamUrl, LowerCasesSchemeAndHost) {
  EXPECT_EQ(parseUpstreamUrl("HTTPS://API.OpenAI.com"),
            (UpstreamUrl{true, "api.openai.com", 443, ""}));
}

TEST(ParseUpstreamUrl, RejectsWithReason) {
  const std::pair<const char*, const char*> cases[] = {
      {"api.openai.com", "not an absolute URL, e.g. https://api.openai.com"},
      {"ftp://example.com", "scheme must be http or https, not 'ftp'"},
      {"https:///v1", "URL has no host"},
      {"https://user:pw@example.com", "credentials in the URL are not allowed; use api_key_env"},
      {"https://example.com/?a=1", "a query string is not allowed"},
      {"https://example.com/#x", "a fragment is not allowed"},
      {"https://example.com:0", "invalid port '0' (1-65535)"},
      {"https://example.com:70000", "invalid port '70000' (1-65535)"},
      // Boost.URL keeps a port's low 16 bits: 84337 would have been port 18801.
      {"http://127.0.0.1:84337", "invalid port '84337' (1-65535)"},
      {"http://127.0.0.1:100000", "invalid port '100000' (1-65535)"},
      {"https://example.com:", "empty port"},
      // Found by fuzzing (tests/fuzz/config_values_fuzz.cpp): the host name was taken
      // percent-decoded, so a space or CR LF reached DNS and the upstream's Host header.
      {"http://87.0a%20b", "invalid host name '87.0a%20b'"},
      {"https://api.example.com%0d%0aX-Evil:%201",
       "invalid host name 'api.example.com%0d%0aX-Evil'"},
      {"https://a%2fb", "invalid host name 'a%2fb'"},
      // Also found by fuzzing: Boost.URL reads "443x" as port 443 and path "x".
      {"https://example.com:443x", "invalid port '443x'"},
      {"https://example.com:80v1/", "invalid port '80v1/'"},
  };
  for (const auto& [text, reason] : cases) {
    std::string why;
    EXPECT_EQ(parseUpstreamUrl(text, &why), std::nullopt) << text;
    EXPECT_EQ(why, reason) << text;
  }
}

TEST(UpstreamUrl, HostHeaderAddsOnlyNonDefaultPorts) {
  EXPECT_EQ((UpstreamUrl{true, "api.openai.com", 443, ""}).hostHeader(), "api.openai.com");
  EXPECT_EQ((UpstreamUrl{false, "127.0.0.1", 80, ""}).hostHeader(), "127.0.0.1");
  EXPECT_EQ((UpstreamUrl{true, "gw", 80, ""}).hostHeader(), "gw:80");
  EXPECT_EQ((UpstreamUrl{false, "::1", 9000, ""}).hostHeader(), "[::1]:9000");
}

}  // namespace
}  // namespace spendgate::config
