#include "config/listen_address.hpp"

#include <gtest/gtest.h>

namespace spendgate::config {
namespace {

TEST(ParseListenAddress, AcceptsIpv4HostNameAndBracketedIpv6) {
  EXPECT_EQ(parseListenAddress("127.0.0.1:8080"), (ListenAddress{"127.0.0.1", 8080}));
  EXPECT_EQ(parseListenAddress("[::1]:8080"), (ListenAddress{"::1", 8080}));
  EXPECT_EQ(parseListenAddress("localhost:8080"), (ListenAddress{"localhost", 8080}));
  EXPECT_EQ(parseListenAddress("0.0.0.0:0"), (ListenAddress{"0.0.0.0", 0}));
  EXPECT_EQ(parseListenAddress("[::]:65535"), (ListenAddress{"::", 65535}));
  EXPECT_EQ(parseListenAddress("proxy.internal:443"), (ListenAddress{"proxy.internal", 443}));
}

TEST(ParseListenAddress, RejectsBadInputWithAReason) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "expected HOST:PORT, e.g. 127.0.0.1:8080"},
      {"8080", "expected HOST:PORT, e.g. 127.0.0.1:8080"},
      {":8080", "missing host; use 0.0.0.0:PORT to listen on every interface"},
      {"127.0.0.1:", "missing port"},
      {"127.0.0.1:65536", "'65536' is not a port (0-65535)"},
      {"127.0.0.1:-1", "'-1' is not a port (0-65535)"},
      {"127.0.0.1:80x", "'80x' is not a port (0-65535)"},
      {"::1:8080", "IPv6 addresses need brackets, e.g. [::1]:8080"},
      {"[::1:8080", "missing ']' after the IPv6 address"},
      {"[::1]8080", "expected ':PORT' after ']'"},
      {"[nope]:80", "'nope' is not an IPv6 address"},
      {"256.0.0.1:80", "'256.0.0.1' is not an IPv4 address"},
      {"bad host:80", "'bad host' is not a valid host"},
  };
  for (const auto& [text, reason] : cases) {
    std::string why;
    EXPECT_EQ(parseListenAddress(text, &why), std::nullopt) << text;
    EXPECT_EQ(why, reason) << text;
  }
}

TEST(ListenAddress, ToStringBracketsIpv6) {
  EXPECT_EQ((ListenAddress{"127.0.0.1", 8080}).toString(), "127.0.0.1:8080");
  EXPECT_EQ((ListenAddress{"::1", 8080}).toString(), "[::1]:8080");
}

TEST(IsLoopbackHost, RecognisesLoopbackForms) {
  for (const char* host : {"127.0.0.1", "127.255.0.9", "::1", "[::1]", "0:0:0:0:0:0:0:1",
                           "localhost", "LocalHost", "localhost.", "::ffff:127.0.0.1"}) {
    EXPECT_TRUE(isLoopbackHost(host)) << host;
  }
}

TEST(IsLoopbackHost, RejectsEverythingElse) {
  for (const char* host :
       {"0.0.0.0", "::", "10.0.0.1", "128.0.0.1", "192.168.1.1", "::2", "::ffff:10.0.0.1",
        "localhost.example.com", "mylocalhost", "", "127.1"}) {
    EXPECT_FALSE(isLoopbackHost(host)) << host;
  }
}

}  // namespace
}  // namespace spendgate::config
