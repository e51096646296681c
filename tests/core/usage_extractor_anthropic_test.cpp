#include <gtest/gtest.h>

#include "core/metering/request_classifier.hpp"
#include "core/usage/usage_extractor.hpp"
#include "tests/core/usage_test_util.hpp"

namespace spendgate::core {
namespace {

using testing::extract;
using testing::extractWithCuts;
using testing::kJson;
using testing::kSse;
using testing::readFixture;

RequestInfo messages(bool stream) {
  return classifyRequest(
      ProviderFormat::Anthropic, "/v1/messages", "",
      std::string(R"({"model":"claude-sonnet-4-5","max_tokens":1024,"stream":)") +
          (stream ? "true" : "false") + R"(,"messages":[{"role":"user","content":"Hello"}]})");
}

void expectFinalStreamUsage(const Usage& u) {
  // message_start: input 21, cache write 3000 (5m 1000 + 1h 2000), cache read 12000, output 1.
  // Final message_delta (cumulative): output 89, 2 web searches.
  EXPECT_EQ(u.input_tokens, 21 + 3000 + 12000);
  EXPECT_EQ(u.cached_input_tokens, 12000);
  EXPECT_EQ(u.cache_write_tokens, 3000);
  EXPECT_EQ(u.cache_write_5m_tokens, 1000);
  EXPECT_EQ(u.cache_write_1h_tokens, 2000);
  // Replaced, never added: 1 + 40 + 89 = 130 would be wrong.
  EXPECT_EQ(u.output_tokens, 89);
  EXPECT_EQ(u.web_search_requests, 2);
  EXPECT_EQ(u.service_tier, "standard");
  EXPECT_EQ(u.model, "claude-sonnet-4-5-20250929");
}

TEST(UsageExtractorAnthropic, StreamAtEverySplitPoint) {
  const RequestInfo info = messages(true);
  EXPECT_EQ(info.kind, EndpointKind::AnthropicMessages);
  EXPECT_EQ(info.max_output_tokens, 1024);
  EXPECT_FALSE(info.needs_usage_injection);
  const std::string body = readFixture("anthropic_stream.sse");
  for (std::size_t cut = 0; cut <= body.size(); ++cut) {
    const UsageResult r = extractWithCuts(info, kSse, body, {cut});
    ASSERT_EQ(r.status, UsageStatus::Reported) << cut;
    ASSERT_EQ(r.usage.output_tokens, 89) << cut;
    ASSERT_EQ(r.usage.input_tokens, 15021) << cut;
  }
  const UsageResult r = extract(info, kSse, body);
  EXPECT_FALSE(r.estimated);
  expectFinalStreamUsage(r.usage);
}

TEST(UsageExtractorAnthropic, CrlfStream) {
  const std::string body = testing::withLineEnds(readFixture("anthropic_stream.sse"), "\r\n");
  const UsageResult r = extractWithCuts(messages(true), kSse, body, {5, 500, 1001});
  EXPECT_EQ(r.status, UsageStatus::Reported);
  expectFinalStreamUsage(r.usage);
}

TEST(UsageExtractorAnthropic, ErrorAfter200KeepsMessageStartCounts) {
  const RequestInfo info = messages(true);
  const UsageResult r = extract(info, kSse, readFixture("anthropic_stream_error.sse"));
  EXPECT_EQ(r.status, UsageStatus::Partial);
  EXPECT_TRUE(r.estimated);
  EXPECT_TRUE(r.upstream_error);
  EXPECT_EQ(r.detail, "overloaded_error");
  EXPECT_EQ(r.usage.input_tokens, 1200);  // from message_start
  // "Once upon a time, in a land far away," = 37 chars -> ceil(37 / 4) = 10 > provisional 1.
  EXPECT_EQ(r.usage.output_tokens, 10);
  EXPECT_EQ(r.usage.model, "claude-haiku-4-5-20251001");
}

TEST(UsageExtractorAnthropic, InterruptedStreamIsPartial) {
  std::string body = readFixture("anthropic_stream.sse");
  body.resize(body.find("event: message_delta"));  // cut after the text, before any delta usage
  const UsageResult r = extract(messages(true), kSse, body);
  EXPECT_EQ(r.status, UsageStatus::Partial);
  EXPECT_TRUE(r.estimated);
  EXPECT_FALSE(r.upstream_error);
  EXPECT_EQ(r.usage.input_tokens, 15021);
  EXPECT_EQ(r.usage.cache_write_1h_tokens, 2000);
  // "I'm Claude" + ", an AI assistant" + " made by Anthropic." = 10 + 17 + 19 = 46 chars
  // -> ceil(46 / 4) = 12 tokens (more than message_start's provisional 1).
  EXPECT_EQ(r.usage.output_tokens, 12);

  // Cut after the first (cumulative) message_delta: its 40 beats the 12 estimated.
  std::string later = readFixture("anthropic_stream.sse");
  const auto second = later.find("event: message_delta", later.find("event: message_delta") + 1);
  later.resize(second);
  const UsageResult r2 = extract(messages(true), kSse, later);
  EXPECT_EQ(r2.status, UsageStatus::Partial);
  EXPECT_EQ(r2.usage.output_tokens, 40);
}

TEST(UsageExtractorAnthropic, CutAfterTheFinalMessageDeltaIsReported) {
  // The message_delta with a stop_reason carries the final cumulative counts: a stream cut
  // before message_stop is billed exactly that, like an OpenAI stream cut after its usage chunk.
  std::string body = readFixture("anthropic_stream.sse");
  body.resize(body.find("event: message_stop"));
  const UsageResult r = extract(messages(true), kSse, body);
  EXPECT_EQ(r.status, UsageStatus::Reported);
  EXPECT_FALSE(r.estimated);
  expectFinalStreamUsage(r.usage);
}

TEST(UsageExtractorAnthropic, PartialTopUpIsCappedButReportedCountsStand) {
  const auto cappedAt = [](int max_tokens) {
    return classifyRequest(ProviderFormat::Anthropic, "/v1/messages", "",
                           R"({"model":"claude-sonnet-4-5","stream":true,"max_tokens":)" +
                               std::to_string(max_tokens) + R"(,"messages":[]})");
  };
  std::string body = readFixture("anthropic_stream.sse");
  body.resize(body.find("event: message_delta"));
  // 46 characters seen -> 12 tokens estimated, above max_tokens 5.
  EXPECT_EQ(extract(cappedAt(5), kSse, body).usage.output_tokens, 5);

  // The first message_delta reports 40: the provider's own count is not cut to the cap.
  std::string later = readFixture("anthropic_stream.sse");
  later.resize(later.find("event: message_delta", later.find("event: message_delta") + 1));
  EXPECT_EQ(extract(cappedAt(5), kSse, later).usage.output_tokens, 40);
}

TEST(UsageExtractorAnthropic, JsonWithCacheSplitAndWebSearch) {
  const UsageResult r = extract(messages(false), kJson, readFixture("anthropic_message.json"));
  EXPECT_EQ(r.status, UsageStatus::Reported);
  // input 4 uncached + 1676 written + 30000 read
  EXPECT_EQ(r.usage.input_tokens, 4 + 1676 + 30000);
  EXPECT_EQ(r.usage.cached_input_tokens, 30000);
  EXPECT_EQ(r.usage.cache_write_tokens, 1676);
  EXPECT_EQ(r.usage.cache_write_1h_tokens, 1000);
  EXPECT_EQ(r.usage.cache_write_5m_tokens, 676);  // 1676 - 1000
  EXPECT_EQ(r.usage.output_tokens, 132);
  EXPECT_EQ(r.usage.web_search_requests, 1);
  EXPECT_EQ(r.usage.model, "claude-opus-4-1-20250805");
  EXPECT_EQ(r.usage.uncachedInputTokens(), 4);
}

TEST(UsageExtractorAnthropic, CacheCreationWithoutSplitIsAllFiveMinute) {
  const UsageResult r =
      extract(messages(false), kJson,
              R"({"type":"message","model":"claude-haiku-4-5-20251001","usage":{"input_tokens":10,
          "cache_creation_input_tokens":500,"cache_read_input_tokens":null,"output_tokens":5}})");
  EXPECT_EQ(r.status, UsageStatus::Reported);
  EXPECT_EQ(r.usage.input_tokens, 510);
  EXPECT_EQ(r.usage.cache_write_5m_tokens, 500);
  EXPECT_EQ(r.usage.cache_write_1h_tokens, 0);
  EXPECT_EQ(r.usage.cached_input_tokens, 0);
}

TEST(UsageExtractorAnthropic, ErrorBodyWith200AndAbsurdCounts) {
  const UsageResult error =
      extract(messages(false), kJson,
              R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})");
  EXPECT_EQ(error.status, UsageStatus::NotBillable);
  EXPECT_TRUE(error.upstream_error);
  const UsageResult absurd =
      extract(messages(false), kJson,
              R"({"type":"message","usage":{"input_tokens":-1,"output_tokens":5}})");
  EXPECT_EQ(absurd.status, UsageStatus::Absurd);
}

}  // namespace
}  // namespace spendgate::core
