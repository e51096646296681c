#include "core/routing/route_table.hpp"

#include <gtest/gtest.h>

namespace spendgate::core {
namespace {

RouteTable defaultRoutes() {
  RouteTable table;
  table.add("/v1/", 0);          // openai
  table.add("/v1/messages", 1);  // anthropic
  table.add("/v1beta/", 2);      // gemini
  return table;
}

TEST(RouteTableTest, LongestPrefixWinsWhateverTheOrderAdded) {
  const RouteTable table = defaultRoutes();
  EXPECT_EQ(table.match("/v1/messages"), 1u);
  EXPECT_EQ(table.match("/v1/messages/count_tokens"), 1u);
  EXPECT_EQ(table.match("/v1/chat/completions"), 0u);
  EXPECT_EQ(table.match("/v1beta/models/gemini-2.5-flash:generateContent"), 2u);
}

TEST(RouteTableTest, QueryIsIgnored) {
  const RouteTable table = defaultRoutes();
  EXPECT_EQ(table.match("/v1beta/models/x:streamGenerateContent?alt=sse&key=abc"), 2u);
  EXPECT_EQ(table.match("/v2?x=/v1/"), std::nullopt);
}

TEST(RouteTableTest, UnroutedPathsHaveNoMatch) {
  const RouteTable table = defaultRoutes();
  EXPECT_EQ(table.match("/"), std::nullopt);
  EXPECT_EQ(table.match("/v1"), std::nullopt);  // prefix is "/v1/"
  EXPECT_EQ(table.match("/healthz"), std::nullopt);
}

}  // namespace
}  // namespace spendgate::core
