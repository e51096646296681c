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

const char* kGeminiBody =
    R"({"contents":[{"role":"user","parts":[{"text":"Capital of France?"}]}],"generationConfig":{"maxOutputTokens":800,"candidateCount":1}})";

RequestInfo streamRequest() {
  return classifyRequest(ProviderFormat::Gemini,
                         "/v1beta/models/gemini-2.5-flash:streamGenerateContent", "alt=sse",
                         kGeminiBody);
}

void expectLastChunkUsage(const Usage& u) {
  // Last usageMetadata: prompt 131 (100 cached), candidates 15, thoughts 95.
  EXPECT_EQ(u.input_tokens, 131);
  EXPECT_EQ(u.cached_input_tokens, 100);
  EXPECT_EQ(u.output_tokens, 15 + 95);  // thoughts are separate from candidates, billed as output
  EXPECT_EQ(u.reasoning_tokens, 95);
  EXPECT_EQ(u.model, "gemini-2.5-flash");
}

TEST(UsageExtractorGemini, ClassifiesFromThePath) {
  const RequestInfo info = streamRequest();
  EXPECT_EQ(info.kind, EndpointKind::GeminiStreamGenerateContent);
  EXPECT_EQ(info.requested_model, "gemini-2.5-flash");
  EXPECT_TRUE(info.stream);
  EXPECT_EQ(info.max_output_tokens, 800);
  EXPECT_FALSE(info.needs_usage_injection);
}

TEST(UsageExtractorGemini, CrlfSseStreamKeepsTheLastUsageAtEverySplitPoint) {
  const std::string body = readFixture("gemini_stream.sse");
  ASSERT_NE(body.find("\r\n\r\n"), std::string::npos);  // the fixture is CRLF-framed
  const RequestInfo info = streamRequest();
  for (std::size_t cut = 0; cut <= body.size(); ++cut) {
    const UsageResult r = extractWithCuts(info, kSse, body, {cut});
    ASSERT_EQ(r.status, UsageStatus::Reported) << cut;
    // Summing the three chunks would give 49 + 99 + 110 = 258.
    ASSERT_EQ(r.usage.output_tokens, 110) << cut;
  }
  expectLastChunkUsage(extract(info, kSse, body).usage);
}

TEST(UsageExtractorGemini, JsonArrayStreamAtEverySplitPoint) {
  const std::string body = readFixture("gemini_stream_array.json");
  const RequestInfo info =
      classifyRequest(ProviderFormat::Gemini,
                      "/v1beta/models/gemini-2.5-flash:streamGenerateContent", "", kGeminiBody);
  for (std::size_t cut = 0; cut <= body.size(); ++cut) {
    const UsageResult r = extractWithCuts(info, kJson, body, {cut});
    ASSERT_EQ(r.status, UsageStatus::Reported) << cut;
    ASSERT_EQ(r.usage.output_tokens, 110) << cut;
  }
  expectLastChunkUsage(extract(info, kJson, body).usage);
}

TEST(UsageExtractorGemini, InterruptedArrayStreamIsPartial) {
  std::string body = readFixture("gemini_stream_array.json");
  body.resize(body.rfind("{\"candidates\""));  // drop the last element (the one with STOP)
  const RequestInfo info =
      classifyRequest(ProviderFormat::Gemini,
                      "/v1beta/models/gemini-2.5-flash:streamGenerateContent", "", kGeminiBody);
  const UsageResult r = extract(info, kJson, body);
  EXPECT_EQ(r.status, UsageStatus::Partial);
  EXPECT_TRUE(r.estimated);
  // Second chunk: prompt 131, candidates 4 + thoughts 95 = 99 output, a floor above the
  // estimate ("**Planning**" + "The capital of France" = 12 + 21 = 33 chars -> 9 tokens).
  EXPECT_EQ(r.usage.input_tokens, 131);
  EXPECT_EQ(r.usage.output_tokens, 99);
}

TEST(UsageExtractorGemini, GenerateContentJson) {
  const RequestInfo info = classifyRequest(
      ProviderFormat::Gemini, "/v1beta/models/gemini-2.5-pro:generateContent", "", kGeminiBody);
  EXPECT_EQ(info.kind, EndpointKind::GeminiGenerateContent);
  EXPECT_FALSE(info.stream);
  const UsageResult r = extract(info, kJson, readFixture("gemini_generate.json"));
  EXPECT_EQ(r.status, UsageStatus::Reported);
  EXPECT_EQ(r.usage.input_tokens, 250000);
  EXPECT_EQ(r.usage.cached_input_tokens, 50000);
  EXPECT_EQ(r.usage.output_tokens, 3000);
  EXPECT_EQ(r.usage.reasoning_tokens, 2000);
  EXPECT_EQ(r.usage.model, "gemini-2.5-pro");
}

TEST(UsageExtractorGemini, ErrorWrappedInAnArray) {
  const RequestInfo info = classifyRequest(
      ProviderFormat::Gemini, "/v1beta/models/gemini-2.5-pro:generateContent", "", kGeminiBody);
  const UsageResult r = extract(
      info, kJson,
      R"([{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}])");
  EXPECT_TRUE(r.upstream_error);
  EXPECT_EQ(r.detail, "UNAVAILABLE");
  EXPECT_EQ(r.status, UsageStatus::NotBillable);
}

TEST(UsageExtractorGemini, AudioModalityEntriesAreTheAudioCounts) {
  const RequestInfo info = classifyRequest(
      ProviderFormat::Gemini, "/v1beta/models/gemini-2.5-flash:generateContent", "", kGeminiBody);
  const UsageResult r = extract(info, kJson, R"({"candidates":[{"finishReason":"STOP"}],
      "usageMetadata":{"promptTokenCount":1200,"candidatesTokenCount":40,"totalTokenCount":1240,
      "promptTokensDetails":[{"modality":"TEXT","tokenCount":200},{"modality":"AUDIO","tokenCount":1000}],
      "candidatesTokensDetails":[{"modality":"TEXT","tokenCount":40}]}})");
  EXPECT_EQ(r.status, UsageStatus::Reported);
  EXPECT_EQ(r.usage.input_tokens, 1200);
  EXPECT_EQ(r.usage.audio_input_tokens, 1000);
  EXPECT_EQ(r.usage.audio_output_tokens, 0);
  // More audio than prompt is garbage, as a cache read above the prompt is.
  const UsageResult bad = extract(info, kJson, R"({"usageMetadata":{"promptTokenCount":10,
      "candidatesTokenCount":1,"promptTokensDetails":[{"modality":"AUDIO","tokenCount":11}]}})");
  EXPECT_NE(bad.status, UsageStatus::Reported);
}

TEST(UsageExtractorGemini, ToolUsePromptTokensCountAsInput) {
  const RequestInfo info = classifyRequest(
      ProviderFormat::Gemini, "/v1beta/models/gemini-2.5-flash:generateContent", "", kGeminiBody);
  const UsageResult r =
      extract(info, kJson,
              R"({"candidates":[{"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":50,
          "toolUsePromptTokenCount":20,"candidatesTokenCount":5,"totalTokenCount":75}})");
  EXPECT_EQ(r.usage.input_tokens, 70);
  EXPECT_EQ(r.usage.output_tokens, 5);
}

}  // namespace
}  // namespace spendgate::core
