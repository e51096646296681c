#include "core/metering/include_usage_injector.hpp"

#include <gtest/gtest.h>

namespace spendgate::core {
namespace {

TEST(IncludeUsageInjector, AddsStreamOptionsWhenAbsent) {
  const auto out = injectIncludeUsage(R"({"model":"gpt-4o","stream":true,"temperature":0.70})");
  ASSERT_TRUE(out);
  // Appended; everything else byte-for-byte (0.70 is not re-serialized as 7E-1).
  EXPECT_EQ(
      *out,
      R"({"model":"gpt-4o","stream":true,"temperature":0.70,"stream_options":{"include_usage":true}})");
}

TEST(IncludeUsageInjector, KeepsWhitespaceAndTrailingNewline) {
  const auto out = injectIncludeUsage("{\n  \"stream\": true\n}\n");
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, "{\n  \"stream\": true\n,\"stream_options\":{\"include_usage\":true}}\n");
}

TEST(IncludeUsageInjector, FlipsFalseAndKeepsOtherOptions) {
  const auto out = injectIncludeUsage(
      R"({"stream":true,"stream_options":{"include_obfuscation":false,"include_usage":false}})");
  ASSERT_TRUE(out);
  EXPECT_EQ(
      *out,
      R"({"stream":true,"stream_options":{"include_obfuscation":false,"include_usage":true}})");
}

TEST(IncludeUsageInjector, MergesIntoExistingOptions) {
  const auto out =
      injectIncludeUsage(R"({"stream_options": {"include_obfuscation":false}, "stream":true})");
  ASSERT_TRUE(out);
  EXPECT_EQ(
      *out,
      R"({"stream_options": {"include_usage":true,"include_obfuscation":false}, "stream":true})");
  const auto empty = injectIncludeUsage(R"({"stream":true,"stream_options":{}})");
  ASSERT_TRUE(empty);
  EXPECT_EQ(*empty, R"({"stream":true,"stream_options":{"include_usage":true}})");
  const auto null = injectIncludeUsage(R"({"stream":true,"stream_options":null})");
  ASSERT_TRUE(null);
  EXPECT_EQ(*null, R"({"stream":true,"stream_options":{"include_usage":true}})");
}

TEST(IncludeUsageInjector, LeavesBodiesThatNeedNothingAlone) {
  EXPECT_FALSE(injectIncludeUsage(R"({"stream":true,"stream_options":{"include_usage":true}})"));
  EXPECT_FALSE(injectIncludeUsage(R"({"model":"gpt-4o"})"));
  EXPECT_FALSE(injectIncludeUsage(R"({"stream":false})"));
  EXPECT_FALSE(injectIncludeUsage(R"({"stream":"true"})"));
  EXPECT_FALSE(injectIncludeUsage(R"({"stream":true,"stream_options":"x"})"));
  EXPECT_FALSE(injectIncludeUsage(R"([{"stream":true}])"));
  EXPECT_FALSE(injectIncludeUsage(R"({"stream":true)"));
  EXPECT_FALSE(injectIncludeUsage(""));
}

TEST(IncludeUsageInjector, IgnoresLookalikesInsideStrings) {
  const auto out = injectIncludeUsage(
      R"({"messages":[{"content":"\"stream_options\":{\"include_usage\":false}"}],"stream":true})");
  ASSERT_TRUE(out);
  EXPECT_EQ(
      *out,
      R"({"messages":[{"content":"\"stream_options\":{\"include_usage\":false}"}],"stream":true,"stream_options":{"include_usage":true}})");
}

TEST(IncludeUsageInjector, DuplicateKeyLastWins) {
  const auto out = injectIncludeUsage(
      R"({"stream":true,"stream_options":{"include_usage":true},"stream_options":{"include_usage":false}})");
  ASSERT_TRUE(out);
  EXPECT_EQ(
      *out,
      R"({"stream":true,"stream_options":{"include_usage":true},"stream_options":{"include_usage":true}})");
}

}  // namespace
}  // namespace spendgate::core
