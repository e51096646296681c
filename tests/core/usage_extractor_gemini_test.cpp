#include <gtest/gtest.h>

#include "core/memory/buffer_allowance.hpp"
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

TEST(UsageExtractorGemini, AnArrayElementPastItsFreeMiBNeedsTheAllowance) {
  // Review 22 F5: the JSON-array element buffer was not counted in server.max_buffered_bytes.
  // Two streams share a 3 MiB allowance: an element of almost 1.5 MiB, counted at twice its size,
  // takes 2 MiB; the same element in a second stream at the same time finds 1 MiB left and is
  // skipped, as one past the cap, and the element after it is read. What an element took is given
  // back once it ends.
  const RequestInfo info =
      classifyRequest(ProviderFormat::Gemini,
                      "/v1beta/models/gemini-2.5-flash:streamGenerateContent", "", kGeminiBody);
  BufferAllowance allowance(3u << 20);
  UsageExtractor::Limits limits;
  limits.buffers = &allowance;
  const std::string big = R"({"candidates":[{"content":{"parts":[{"text":")" +
                          std::string((3u << 20) / 2 - 1000, 'x') + R"("}]}}]})";
  const std::string last =
      R"({"candidates":[{"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":7,)"
      R"("candidatesTokenCount":3},"modelVersion":"gemini-2.5-flash"})";
  const std::string stream = "[" + big + ",\r\n" + last + "]";
  UsageExtractor first(info, 200, kJson, limits);
  UsageExtractor second(info, 200, kJson, limits);
  first.feed(std::string_view(stream).substr(0, big.size()));  // all of `big` but its last '}'
  EXPECT_EQ(allowance.inUse(), 2u << 20);
  second.feed(stream);
  EXPECT_EQ(allowance.inUse(), 2u << 20);
  const UsageResult skipped = second.finish();
  EXPECT_EQ(skipped.status, UsageStatus::Reported);
  EXPECT_EQ(skipped.usage.input_tokens, 7);
  EXPECT_EQ(skipped.usage.output_tokens, 3);
  first.feed(std::string_view(stream).substr(big.size()));
  EXPECT_EQ(allowance.inUse(), 0u);
  EXPECT_EQ(first.finish().usage.output_tokens, 3);
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
