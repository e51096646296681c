#include "core/http/request_target.hpp"

#include <gtest/gtest.h>

namespace spendgate::core {
namespace {

TEST(RequestTargetTest, OriginFormIsTheUsualCase) {
  EXPECT_TRUE(isOriginForm("/v1/chat/completions"));
  EXPECT_TRUE(isOriginForm("/"));
  EXPECT_FALSE(isOriginForm("http://127.0.0.1:8080/v1/models"));
  EXPECT_FALSE(isOriginForm("*"));
  EXPECT_FALSE(isOriginForm(""));
}

TEST(RequestTargetTest, AbsoluteFormKeepsPathAndQuery) {
  EXPECT_EQ(originFormOf("http://127.0.0.1:8080/v1/chat/completions"), "/v1/chat/completions");
  EXPECT_EQ(originFormOf("http://localhost/v1beta/models/gemini:generateContent?key=k&alt=sse"),
            "/v1beta/models/gemini:generateContent?key=k&alt=sse");
  EXPECT_EQ(originFormOf("HTTPS://API.OPENAI.COM/v1/models"), "/v1/models");
  EXPECT_EQ(originFormOf("http://[::1]:8080/v1/models?"), "/v1/models?");
  // Percent-encoding stays as sent: the upstream decodes it, not the proxy.
  EXPECT_EQ(originFormOf("http://h/openai/deployments/my%20dep/chat"),
            "/openai/deployments/my%20dep/chat");
}

TEST(RequestTargetTest, AbsoluteFormWithoutPathIsTheRoot) {
  EXPECT_EQ(originFormOf("http://127.0.0.1:8080"), "/");
  EXPECT_EQ(originFormOf("http://127.0.0.1:8080?x=1"), "/?x=1");
}

TEST(RequestTargetTest, AnythingElseIsMalformed) {
  EXPECT_EQ(originFormOf("*"), std::nullopt);                          // asterisk form
  EXPECT_EQ(originFormOf("api.openai.com:443"), std::nullopt);         // authority form (CONNECT)
  EXPECT_EQ(originFormOf("v1/models"), std::nullopt);                  // relative
  EXPECT_EQ(originFormOf("http:/v1/models"), std::nullopt);            // no authority
  EXPECT_EQ(originFormOf("http:///v1/models"), std::nullopt);          // empty host
  EXPECT_EQ(originFormOf("http://u:p@host/v1/models"), std::nullopt);  // userinfo
  EXPECT_EQ(originFormOf("http://host/v1/models#frag"), std::nullopt);
  EXPECT_EQ(originFormOf("http://ho st/v1/models"), std::nullopt);
  EXPECT_EQ(originFormOf("http://host:80x/v1"), std::nullopt);
}

}  // namespace
}  // namespace spendgate::core
