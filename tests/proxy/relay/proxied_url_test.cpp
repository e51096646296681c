#include "proxy/relay/proxied_url.hpp"

#include <gtest/gtest.h>

#include <string>

#include "config/upstream_url.hpp"

namespace spendgate::proxy {
namespace {

config::UpstreamUrl upstream(std::string_view base_url) {
  auto parsed = config::parseUpstreamUrl(base_url);
  EXPECT_TRUE(parsed) << base_url;
  return parsed.value_or(config::UpstreamUrl{});
}

constexpr std::string_view kProxy = "http://127.0.0.1:8080";

TEST(ProxiedUrlTest, GeminisUploadSessionPointsBackAtTheProxy) {
  const auto google = upstream("https://generativelanguage.googleapis.com");
  EXPECT_EQ(proxiedUrl("https://generativelanguage.googleapis.com/upload/v1beta/files?upload_id=AB-"
                       "c_1&upload_protocol=resumable",
                       google, kProxy),
            "http://127.0.0.1:8080/upload/v1beta/files?upload_id=AB-c_1&upload_protocol=resumable");
  // Names in any case, the scheme's default port written out, percent-encoding kept as sent.
  EXPECT_EQ(proxiedUrl("HTTPS://GenerativeLanguage.GoogleAPIs.com:443/upload/v1beta/files?x=%2F",
                       google, kProxy),
            "http://127.0.0.1:8080/upload/v1beta/files?x=%2F");
  EXPECT_EQ(proxiedUrl("https://generativelanguage.googleapis.com", google, kProxy),
            "http://127.0.0.1:8080/");
}

TEST(ProxiedUrlTest, AnythingNotUnderTheBaseUrlStaysAsSent) {
  const auto google = upstream("https://generativelanguage.googleapis.com");
  const std::string_view path = "/upload/v1beta/files?upload_id=1";
  for (const std::string_view other : {
           "http://generativelanguage.googleapis.com",        // another scheme
           "https://storage.googleapis.com",                  // another host
           "https://generativelanguage.googleapis.com:8443",  // another port
           "https://generativelanguage.googleapis.com.evil.example",
           "https://user@generativelanguage.googleapis.com",  // userinfo
       }) {
    EXPECT_EQ(proxiedUrl(std::string(other) + std::string(path), google, kProxy), std::nullopt)
        << other;
  }
  EXPECT_EQ(proxiedUrl("/upload/v1beta/files", google, kProxy), std::nullopt);  // not absolute
  EXPECT_EQ(proxiedUrl("not a url", google, kProxy), std::nullopt);
  EXPECT_EQ(proxiedUrl("", google, kProxy), std::nullopt);
  // Without a client origin there is nothing to point at.
  EXPECT_EQ(proxiedUrl("https://generativelanguage.googleapis.com/upload/v1beta/files", google, ""),
            std::nullopt);
}

TEST(ProxiedUrlTest, TheProvidersPathPrefixIsTakenOffOnlyAtASegmentBoundary) {
  const auto gateway = upstream("http://10.0.0.5:9000/gemini/");
  EXPECT_EQ(proxiedUrl("http://10.0.0.5:9000/gemini/upload/v1beta/files?upload_id=9", gateway,
                       "https://llm.example.com"),
            "https://llm.example.com/upload/v1beta/files?upload_id=9");
  EXPECT_EQ(proxiedUrl("http://10.0.0.5:9000/gemini", gateway, kProxy), "http://127.0.0.1:8080/");
  EXPECT_EQ(proxiedUrl("http://10.0.0.5:9000/gemini2/upload/v1beta/files", gateway, kProxy),
            std::nullopt);
  EXPECT_EQ(proxiedUrl("http://10.0.0.5:9000/upload/v1beta/files", gateway, kProxy), std::nullopt);
  EXPECT_EQ(proxiedUrl("http://10.0.0.5/gemini/upload", gateway, kProxy), std::nullopt);  // port 80
}

TEST(ProxiedUrlTest, IpLiteralsCompareWithoutBrackets) {
  const auto local = upstream("http://[::1]:7000");
  EXPECT_EQ(proxiedUrl("http://[::1]:7000/upload/v1beta/files", local, kProxy),
            "http://127.0.0.1:8080/upload/v1beta/files");
  EXPECT_EQ(proxiedUrl("http://[::2]:7000/upload/v1beta/files", local, kProxy), std::nullopt);
  const auto v4 = upstream("http://127.0.0.1:7000");
  EXPECT_EQ(
      proxiedUrl("http://127.0.0.1:7000/upload/v1beta/files?upload_id=1", v4, "http://[::1]:8080"),
      "http://[::1]:8080/upload/v1beta/files?upload_id=1");
}

TEST(ProxiedUrlTest, TheClientOriginIsItsHostAndTheSchemeItsBalancerReports) {
  EXPECT_EQ(clientOrigin("127.0.0.1:8080", ""), "http://127.0.0.1:8080");
  EXPECT_EQ(clientOrigin("llm.example.com", "https"), "https://llm.example.com");
  EXPECT_EQ(clientOrigin("llm.example.com", "HTTPS, http"), "https://llm.example.com");
  EXPECT_EQ(clientOrigin("llm.example.com", " https "), "https://llm.example.com");
  EXPECT_EQ(clientOrigin("llm.example.com", "http"), "http://llm.example.com");
  EXPECT_EQ(clientOrigin("llm.example.com", "wss"), "http://llm.example.com");
  EXPECT_EQ(clientOrigin("[::1]:8080", ""), "http://[::1]:8080");
  // No Host, or one that is not a bare authority: nothing to point at.
  EXPECT_EQ(clientOrigin("", "https"), "");
  EXPECT_EQ(clientOrigin("evil.example/x", ""), "");
  EXPECT_EQ(clientOrigin("user@evil.example", ""), "");
  EXPECT_EQ(clientOrigin("a b", ""), "");
}

TEST(ProxiedUrlTest, ForwardedProtoIsTheFirstHopsProto) {
  EXPECT_EQ(forwardedProto("proto=https"), "https");
  EXPECT_EQ(forwardedProto("for=192.0.2.60;proto=https;by=203.0.113.43"), "https");
  EXPECT_EQ(forwardedProto("For=\"[2001:db8:cafe::17]:4711\"; Proto=\"https\""), "https");
  EXPECT_EQ(forwardedProto("for=192.0.2.43, for=198.51.100.17;proto=https"), "");  // 2nd hop's
  EXPECT_EQ(forwardedProto("proto=http, proto=https"), "http");
  EXPECT_EQ(forwardedProto("for=192.0.2.60"), "");
  EXPECT_EQ(forwardedProto(""), "");
  EXPECT_EQ(clientOrigin("llm.example.com", forwardedProto("for=1.2.3.4;proto=https")),
            "https://llm.example.com");
}

}  // namespace
}  // namespace spendgate::proxy
