#include "core/routing/route_table.hpp"

#include <gtest/gtest.h>

namespace spendgate::core {
namespace {

RouteTable defaultRoutes() {
  RouteTable table;
  table.add("/v1/", 0, ProviderFormat::OpenAI);
  table.add("/v1/messages", 1, ProviderFormat::Anthropic);
  table.add("/v1beta/", 2, ProviderFormat::Gemini);
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

// Anthropic's and Gemini's APIs share "/v1/" with OpenAI's: a request that names its API goes
// to that provider, not with its key to the OpenAI upstream.
TEST(RouteTableTest, AHintMovesARequestToTheOneProviderOfItsFormat) {
  const RouteTable table = defaultRoutes();
  EXPECT_EQ(table.match("/v1/models", ApiHint::Anthropic), 1u);
  EXPECT_EQ(table.match("/v1/files?x=1", ApiHint::Anthropic), 1u);
  EXPECT_EQ(table.match("/v1/models/gemini-2.5-flash:generateContent", ApiHint::Gemini), 2u);
  EXPECT_EQ(table.match("/v1/models", ApiHint::None), 0u);
  // Already at a provider of the hinted format, or nowhere: the hint changes nothing.
  EXPECT_EQ(table.match("/v1/messages", ApiHint::Anthropic), 1u);
  EXPECT_EQ(table.match("/v1beta/models", ApiHint::Gemini), 2u);
  EXPECT_EQ(table.match("/v2/models", ApiHint::Anthropic), std::nullopt);
  // A Gemini key on an Anthropic route, an Anthropic header on a Gemini one: moved as well.
  EXPECT_EQ(table.match("/v1/messages", ApiHint::Gemini), 2u);
  EXPECT_EQ(table.match("/v1beta/models", ApiHint::Anthropic), 1u);
  EXPECT_TRUE(table.hintMatters(0));
  EXPECT_TRUE(table.hintMatters(1));
  EXPECT_TRUE(table.hintMatters(2));
}

TEST(RouteTableTest, AHintMovesNothingWithoutExactlyOneProviderOfItsFormat) {
  RouteTable none;
  none.add("/v1/", 0, ProviderFormat::OpenAI);
  EXPECT_EQ(none.match("/v1/models", ApiHint::Anthropic), 0u);
  EXPECT_FALSE(none.hintMatters(0));

  RouteTable two = defaultRoutes();
  two.add("/claude/", 3, ProviderFormat::Anthropic);
  EXPECT_EQ(two.match("/v1/models", ApiHint::Anthropic), 0u);
  EXPECT_EQ(two.match("/v1/models", ApiHint::Gemini), 2u);
  // One provider with two routes is still one provider.
  RouteTable one = defaultRoutes();
  one.add("/v1/complete", 1, ProviderFormat::Anthropic);
  EXPECT_EQ(one.match("/v1/models", ApiHint::Anthropic), 1u);
}

}  // namespace
}  // namespace spendgate::core
