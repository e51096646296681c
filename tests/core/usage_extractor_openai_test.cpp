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

const std::string kChatStreamBody =
    R"({"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hi"}]})";

RequestInfo chatStream() {
  return classifyRequest(ProviderFormat::OpenAI, "/v1/chat/completions", "", kChatStreamBody);
}

TEST(UsageExtractorOpenAi, StreamUsageChunkAtEverySplitPoint) {
  const std::string body = readFixture("openai_chat_stream_injected.sse");
  const RequestInfo info = chatStream();
  for (std::size_t cut = 0; cut <= body.size(); ++cut) {
    const UsageResult r = extractWithCuts(info, kSse, body, {cut});
    ASSERT_EQ(r.status, UsageStatus::Reported) << "cut " << cut;
    ASSERT_EQ(r.usage.input_tokens, 19) << "cut " << cut;
    ASSERT_EQ(r.usage.output_tokens, 10) << "cut " << cut;
  }
  const UsageResult r = extract(info, kSse, body);
  EXPECT_FALSE(r.estimated);
  EXPECT_TRUE(r.usage.reported);
  EXPECT_EQ(r.usage.cached_input_tokens, 0);
  EXPECT_EQ(r.usage.model, "gpt-4o-mini-2024-07-18");
  EXPECT_EQ(r.usage.service_tier, "default");
}

TEST(UsageExtractorOpenAi, CrlfFramedStream) {
  const std::string body =
      testing::withLineEnds(readFixture("openai_chat_stream_injected.sse"), "\r\n");
  const UsageResult r = extractWithCuts(chatStream(), kSse, body, {100, 101, 977});
  EXPECT_EQ(r.status, UsageStatus::Reported);
  EXPECT_EQ(r.usage.input_tokens, 19);
  EXPECT_EQ(r.usage.output_tokens, 10);
}

TEST(UsageExtractorOpenAi, StreamWithoutUsageIsEstimated) {
  const UsageResult r = extract(chatStream(), kSse, readFixture("openai_chat_stream_client.sse"));
  EXPECT_EQ(r.status, UsageStatus::Estimated);
  EXPECT_TRUE(r.estimated);
  EXPECT_FALSE(r.usage.reported);
  // Request body: 81 bytes -> ceil(81 / 4) = 21 input tokens.
  ASSERT_EQ(kChatStreamBody.size(), 81u);
  EXPECT_EQ(r.usage.input_tokens, 21);
  // Deltas "" + "Hello" + "! How can I" + " assist you today?" = 0 + 5 + 11 + 18 = 34 chars
  // -> ceil(34 / 4) = 9 output tokens.
  EXPECT_EQ(r.usage.output_tokens, 9);
  EXPECT_EQ(r.usage.model, "gpt-4o-mini-2024-07-18");
}

TEST(UsageExtractorOpenAi, ToolCallsWithTwoChoicesShareOneUsage) {
  const std::string body = readFixture("openai_chat_stream_tools_n2.sse");
  const RequestInfo info = classifyRequest(
      ProviderFormat::OpenAI, "/v1/chat/completions", "",
      R"({"model":"gpt-4.1","n":2,"stream":true,"stream_options":{"include_usage":true},"tools":[]})");
  EXPECT_EQ(info.choices, 2);
  EXPECT_FALSE(info.needs_usage_injection);
  const UsageResult r = extract(info, kSse, body);
  EXPECT_EQ(r.status, UsageStatus::Reported);
  // Prompt counted once, completion covers both choices: no per-choice summing.
  EXPECT_EQ(r.usage.input_tokens, 82);
  EXPECT_EQ(r.usage.output_tokens, 34);
  EXPECT_EQ(r.usage.model, "gpt-4.1-2025-04-14");
}

TEST(UsageExtractorOpenAi, TruncatedToolStreamIsEstimatedFromArgumentDeltas) {
  std::string body = readFixture("openai_chat_stream_tools_n2.sse");
  body.resize(body.find("\"choices\":[]"));  // cut inside the usage chunk
  const RequestInfo info = classifyRequest(ProviderFormat::OpenAI, "/v1/chat/completions", "",
                                           R"({"model":"gpt-4.1","n":2,"stream":true})");
  const UsageResult r = extract(info, kSse, body);
  EXPECT_EQ(r.status, UsageStatus::Estimated);
  EXPECT_TRUE(r.estimated);
  // Arguments per choice: '{"loc' + 'ation":' + ' "Paris"}' = 5 + 7 + 9 = 21 chars; two choices
  // = 42 chars -> ceil(42 / 4) = 11 tokens.
  EXPECT_EQ(r.usage.output_tokens, 11);
  // Body of 39 bytes -> ceil(39 / 4) = 10 tokens.
  EXPECT_EQ(r.usage.input_tokens, 10);
}

TEST(UsageExtractorOpenAi, NonStreamedChatWithCachedAndReasoningTokens) {
  const RequestInfo info = classifyRequest(ProviderFormat::OpenAI, "/v1/chat/completions", "",
                                           R"({"model":"gpt-5","messages":[]})");
  const std::string body = readFixture("openai_chat.json");
  const UsageResult r = extractWithCuts(info, "application/json", body, {1, 300});
  EXPECT_EQ(r.status, UsageStatus::Reported);
  EXPECT_EQ(r.usage.input_tokens, 1486);
  EXPECT_EQ(r.usage.cached_input_tokens, 1408);  // a subset of input, not added
  EXPECT_EQ(r.usage.output_tokens, 651);
  EXPECT_EQ(r.usage.reasoning_tokens, 512);  // a subset of output, not added
  EXPECT_EQ(r.usage.model, "gpt-5-2025-08-07");
}

TEST(UsageExtractorOpenAi, AudioTokensAreSubsetsOfTheirTotals) {
  const RequestInfo info =
      classifyRequest(ProviderFormat::OpenAI, "/v1/chat/completions", "",
                      R"({"model":"gpt-4o-audio-preview","modalities":["text","audio"]})");
  const std::string body =
      R"({"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-audio-preview-2025-06-03",)"
      R"("choices":[{"index":0,"message":{"role":"assistant","content":null,"audio":{"id":"a",)"
      R"("data":"UklGRg==","transcript":"Hi there"}},"finish_reason":"stop"}],)"
      R"("usage":{"prompt_tokens":1000,"completion_tokens":500,"total_tokens":1500,)"
      R"("prompt_tokens_details":{"cached_tokens":100,"audio_tokens":800},)"
      R"("completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":400}}})";
  const UsageResult r = extractWithCuts(info, kJson, body, {1, 250});
  EXPECT_EQ(r.status, UsageStatus::Reported);
  EXPECT_EQ(r.usage.input_tokens, 1000);
  EXPECT_EQ(r.usage.cached_input_tokens, 100);
  EXPECT_EQ(r.usage.audio_input_tokens, 800);
  EXPECT_EQ(r.usage.output_tokens, 500);
  EXPECT_EQ(r.usage.audio_output_tokens, 400);

  // The same counts in the usage chunk of a stream.
  const std::string stream =
      R"(data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,)"
      R"("delta":{"audio":{"transcript":"Hi"}}}]})"
      "\n\n"
      R"(data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":)"
      R"({"prompt_tokens":1000,"completion_tokens":500,"prompt_tokens_details":)"
      R"({"audio_tokens":800},"completion_tokens_details":{"audio_tokens":400}}})"
      "\n\ndata: [DONE]\n\n";
  const UsageResult s = extract(chatStream(), kSse, stream);
  EXPECT_EQ(s.status, UsageStatus::Reported);
  EXPECT_EQ(s.usage.audio_input_tokens, 800);
  EXPECT_EQ(s.usage.audio_output_tokens, 400);
}

TEST(UsageExtractorOpenAi, ErrorInsideA200Stream) {
  const std::string body =
      "data: {\"id\":\"c1\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":"
      "\"Partial ans\"}}]}\n\n"
      "data: {\"error\":{\"message\":\"The server had an error while processing your request.\","
      "\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n";
  const UsageResult r = extract(chatStream(), kSse, body);
  EXPECT_TRUE(r.upstream_error);
  EXPECT_EQ(r.detail, "server_error");
  EXPECT_EQ(r.status, UsageStatus::Estimated);
  EXPECT_EQ(r.usage.output_tokens, 3);  // "Partial ans" = 11 chars -> 3 tokens
  // An error before any output bills nothing.
  const UsageResult early = extract(
      chatStream(), kSse, "data: {\"error\":{\"message\":\"x\",\"type\":\"server_error\"}}\n\n");
  EXPECT_EQ(early.status, UsageStatus::NotBillable);
  EXPECT_TRUE(early.upstream_error);
}

TEST(UsageExtractorOpenAi, AzureEmptyFirstChunkAndDeploymentMap) {
  const RequestInfo info = classifyRequest(
      ProviderFormat::Azure, "/openai/deployments/prod-4o/chat/completions",
      "api-version=2024-10-21", R"({"stream":true,"messages":[]})", {{"prod-4o", "gpt-4o"}});
  EXPECT_EQ(info.requested_model, "gpt-4o");
  EXPECT_EQ(info.azure_deployment, "prod-4o");
  EXPECT_TRUE(info.needs_usage_injection);
  const std::string body = readFixture("azure_chat_stream.sse");
  for (std::size_t cut = 0; cut <= body.size(); cut += 13) {
    const UsageResult r = extractWithCuts(info, kSse, body, {cut});
    ASSERT_EQ(r.status, UsageStatus::Reported);
    ASSERT_EQ(r.usage.input_tokens, 1200);
    ASSERT_EQ(r.usage.cached_input_tokens, 1024);
    ASSERT_EQ(r.usage.output_tokens, 2);
    // The empty first chunk ("model":"") and the filter chunks do not erase the real model.
    ASSERT_EQ(r.usage.model, "gpt-4o-2024-11-20");
  }
}

TEST(UsageExtractorOpenAi, LegacyCompletionsStream) {
  const RequestInfo info = classifyRequest(
      ProviderFormat::OpenAI, "/v1/completions", "",
      R"({"model":"gpt-3.5-turbo-instruct","prompt":"Say this is a test","stream":true})");
  EXPECT_EQ(info.kind, EndpointKind::Completions);
  const UsageResult r = extract(info, kSse, readFixture("openai_completions_stream.sse"));
  EXPECT_EQ(r.status, UsageStatus::Reported);
  EXPECT_EQ(r.usage.input_tokens, 5);
  EXPECT_EQ(r.usage.output_tokens, 7);
}

TEST(UsageExtractorOpenAi, Embeddings) {
  const RequestInfo info = classifyRequest(ProviderFormat::OpenAI, "/v1/embeddings", "",
                                           R"({"model":"text-embedding-3-small","input":"hi"})");
  const UsageResult r = extract(info, kJson, readFixture("openai_embeddings.json"));
  EXPECT_EQ(r.status, UsageStatus::Reported);
  EXPECT_EQ(r.usage.input_tokens, 8);
  EXPECT_EQ(r.usage.output_tokens, 0);
  EXPECT_EQ(r.usage.model, "text-embedding-3-small");
}

TEST(UsageExtractorOpenAi, GeminiCompatOutputIsTotalMinusPrompt) {
  const RequestInfo info =
      classifyRequest(ProviderFormat::Gemini, "/v1beta/openai/chat/completions", "",
                      R"({"model":"gemini-2.5-flash","stream":true,"messages":[]})");
  EXPECT_TRUE(info.gemini_compat);
  EXPECT_EQ(info.kind, EndpointKind::ChatCompletions);
  const UsageResult r = extract(info, kSse, readFixture("gemini_compat_stream.sse"));
  EXPECT_EQ(r.status, UsageStatus::Reported);
  EXPECT_EQ(r.usage.input_tokens, 758);
  // completion_tokens (102) leaves thinking out: output = total - prompt = 1725 - 758 = 967,
  // of which 967 - 102 = 865 are reasoning.
  EXPECT_EQ(r.usage.output_tokens, 967);
  EXPECT_EQ(r.usage.reasoning_tokens, 865);
}

TEST(UsageExtractorOpenAi, ResponsesStreamTerminalEvent) {
  const RequestInfo info = classifyRequest(ProviderFormat::OpenAI, "/v1/responses", "",
                                           R"({"model":"gpt-4o","input":"Hi","stream":true})");
  EXPECT_EQ(info.kind, EndpointKind::Responses);
  EXPECT_FALSE(info.needs_usage_injection);  // never for /v1/responses
  const std::string body = readFixture("openai_responses_stream.sse");
  for (std::size_t cut = 0; cut <= body.size(); ++cut) {
    const UsageResult r = extractWithCuts(info, kSse, body, {cut});
    ASSERT_EQ(r.status, UsageStatus::Reported) << cut;
    ASSERT_EQ(r.usage.input_tokens, 37) << cut;
    ASSERT_EQ(r.usage.output_tokens, 11) << cut;
  }
  const UsageResult r = extract(info, kSse, body);
  EXPECT_EQ(r.usage.model, "gpt-4o-2024-08-06");
  EXPECT_EQ(r.usage.service_tier, "default");  // the terminal event's tier, not "auto"
}

TEST(UsageExtractorOpenAi, ResponsesFailedAndErrorEvents) {
  const RequestInfo info = classifyRequest(ProviderFormat::OpenAI, "/v1/responses", "",
                                           R"({"model":"gpt-4o","input":"Hi","stream":true})");
  const UsageResult failed = extract(info, kSse, readFixture("openai_responses_failed.sse"));
  EXPECT_EQ(failed.status, UsageStatus::Reported);  // response.failed still carries usage
  EXPECT_TRUE(failed.upstream_error);
  EXPECT_EQ(failed.detail, "server_error");
  EXPECT_EQ(failed.usage.input_tokens, 37);
  EXPECT_EQ(failed.usage.output_tokens, 4);

  const UsageResult error = extract(info, kSse, readFixture("openai_responses_error.sse"));
  EXPECT_TRUE(error.upstream_error);
  EXPECT_EQ(error.status, UsageStatus::Estimated);
  EXPECT_EQ(error.usage.output_tokens, 3);  // "Twelve chars" = 12 chars -> 3 tokens
}

TEST(UsageExtractorOpenAi, ResponsesNonStreamed) {
  const RequestInfo info =
      classifyRequest(ProviderFormat::OpenAI, "/v1/responses", "", R"({"model":"o3"})");
  const UsageResult r =
      extract(info, kJson,
              R"({"id":"resp_1","object":"response","status":"incomplete","model":"o3-2025-04-16",
          "service_tier":"flex","incomplete_details":{"reason":"max_output_tokens"},
          "usage":{"input_tokens":100,"input_tokens_details":{"cached_tokens":60},
                   "output_tokens":50,"output_tokens_details":{"reasoning_tokens":50},"total_tokens":150}})");
  EXPECT_EQ(r.status, UsageStatus::Reported);
  EXPECT_EQ(r.usage.input_tokens, 100);
  EXPECT_EQ(r.usage.cached_input_tokens, 60);
  EXPECT_EQ(r.usage.output_tokens, 50);
  EXPECT_EQ(r.usage.reasoning_tokens, 50);
  EXPECT_EQ(r.usage.service_tier, "flex");
}

TEST(UsageExtractorOpenAi, MalformedJsonIsEstimated) {
  const RequestInfo info = classifyRequest(ProviderFormat::OpenAI, "/v1/chat/completions", "",
                                           R"({"model":"gpt-4o","messages":[]})");
  const std::string body =
      R"({"id":"chatcmpl-1","choices":[{"message":{"content":"hi"}}],"usage":{)";
  const UsageResult r = extract(info, kJson, body);
  EXPECT_EQ(r.status, UsageStatus::Malformed);
  EXPECT_TRUE(r.estimated);
  EXPECT_EQ(r.usage.input_tokens, 8);  // 32-byte request -> 8 tokens
  EXPECT_EQ(r.usage.output_tokens, static_cast<std::int64_t>((body.size() + 3) / 4));
  EXPECT_EQ(extract(info, kJson, "").status, UsageStatus::Malformed);
  EXPECT_EQ(extract(info, kJson, "<html>502</html>").status, UsageStatus::Malformed);
}

TEST(UsageExtractorOpenAi, EstimatedOutputNeverPassesTheRequestsCap) {
  // An answer cut after 40 bytes was estimated at 10 output tokens, twice what max_tokens allows.
  const RequestInfo capped =
      classifyRequest(ProviderFormat::OpenAI, "/v1/chat/completions", "",
                      R"({"model":"gpt-4o-mini","max_tokens":5,"messages":[]})");
  const std::string cut = R"({"id":"chatcmpl-1","object":"chat.comple)";
  ASSERT_EQ(cut.size(), 40U);
  const UsageResult r = extract(capped, kJson, cut);
  EXPECT_EQ(r.status, UsageStatus::Malformed);
  EXPECT_EQ(r.usage.output_tokens, 5);

  // Every choice may use the whole cap: n = 2 allows 10 of the 20 tokens 80 characters give.
  const RequestInfo two =
      classifyRequest(ProviderFormat::OpenAI, "/v1/chat/completions", "",
                      R"({"model":"gpt-4o-mini","max_completion_tokens":5,"n":2,"messages":[]})");
  const std::string answer =
      R"({"id":"c","choices":[{"message":{"content":")" + std::string(80, 'x') + R"("}}]})";
  EXPECT_EQ(extract(two, kJson, answer).usage.output_tokens, 10);

  // Without a cap in the request, the estimate stands.
  const RequestInfo open = classifyRequest(ProviderFormat::OpenAI, "/v1/chat/completions", "",
                                           R"({"model":"gpt-4o-mini","messages":[]})");
  EXPECT_EQ(extract(open, kJson, cut).usage.output_tokens, 10);
  EXPECT_EQ(extract(open, kJson, answer).usage.output_tokens, 20);

  // Unless the caller knows the model's bound (what admission reserved): then it stops there,
  // whether or not the request set a cap of its own.
  UsageExtractor::Limits bounded;
  bounded.output_tokens_bound = 7;
  for (const RequestInfo* info : {&open, &two}) {
    UsageExtractor extractor(*info, 200, kJson, bounded);
    extractor.feed(answer);
    EXPECT_EQ(extractor.finish().usage.output_tokens, 7);
  }
  UsageExtractor too_large(open, 200, kJson, [&] {
    UsageExtractor::Limits small = bounded;
    small.max_json_bytes = 16;
    return small;
  }());
  too_large.feed(answer);  // 120 bytes: 30 tokens of body
  const UsageResult over = too_large.finish();
  EXPECT_EQ(over.status, UsageStatus::TooLarge);
  EXPECT_EQ(over.usage.output_tokens, 7);
}

TEST(UsageExtractorOpenAi, MissingUsageIsEstimatedFromTheAnswer) {
  const RequestInfo info = classifyRequest(ProviderFormat::OpenAI, "/v1/chat/completions", "",
                                           R"({"model":"gpt-4o","messages":[]})");
  const UsageResult r = extract(
      info, kJson,
      R"({"id":"c","model":"gpt-4o-2024-08-06","choices":[{"message":{"role":"assistant","content":"0123456789"}}]})");
  EXPECT_EQ(r.status, UsageStatus::Estimated);
  EXPECT_EQ(r.usage.output_tokens, 3);  // 10 chars -> 3 tokens
  EXPECT_EQ(r.usage.model, "gpt-4o-2024-08-06");
}

TEST(UsageExtractorOpenAi, AbsurdCountsAreRejected) {
  const RequestInfo info = classifyRequest(ProviderFormat::OpenAI, "/v1/chat/completions", "",
                                           R"({"model":"gpt-4o","messages":[]})");
  for (
      const char* usage : {
          R"({"prompt_tokens":-5,"completion_tokens":3})",
          R"({"prompt_tokens":2000000000,"completion_tokens":3})",
          R"({"prompt_tokens":10,"completion_tokens":3.5})",
          R"({"prompt_tokens":"10","completion_tokens":3})",
          R"({"prompt_tokens":10,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":11}})",
          R"({"prompt_tokens":10,"completion_tokens":3,"completion_tokens_details":{"reasoning_tokens":4}})",
      }) {
    const std::string body =
        std::string(R"({"model":"gpt-4o","choices":[],"usage":)") + usage + "}";
    const UsageResult r = extract(info, kJson, body);
    EXPECT_EQ(r.status, UsageStatus::Absurd) << usage;
    EXPECT_TRUE(r.estimated) << usage;
    EXPECT_GE(r.usage.input_tokens, 0) << usage;
  }
  // Large but sane (exactly the limit) and float-typed integers are fine.
  const UsageResult ok =
      extract(info, kJson,
              R"({"choices":[],"usage":{"prompt_tokens":1000000000,"completion_tokens":3.0}})");
  EXPECT_EQ(ok.status, UsageStatus::Reported);
  EXPECT_EQ(ok.usage.input_tokens, 1'000'000'000);
  EXPECT_EQ(ok.usage.output_tokens, 3);
}

TEST(UsageExtractorOpenAi, NullDetailObjectsDefaultToZero) {
  const RequestInfo info = chatStream();
  const UsageResult r = extract(
      info, kSse,
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2,"
      "\"prompt_tokens_details\":null,\"completion_tokens_details\":null}}\n\ndata: [DONE]\n\n");
  EXPECT_EQ(r.status, UsageStatus::Reported);
  EXPECT_EQ(r.usage.cached_input_tokens, 0);
  EXPECT_EQ(r.usage.reasoning_tokens, 0);
}

TEST(UsageExtractorOpenAi, NonSuccessStatusIsNotBilled) {
  const UsageResult r = extract(
      chatStream(), kJson,
      R"({"error":{"message":"Rate limit reached","type":"tokens","param":null,"code":"rate_limit_exceeded"}})",
      429);
  EXPECT_EQ(r.status, UsageStatus::NotBillable);
  EXPECT_FALSE(r.estimated);
  EXPECT_EQ(r.usage.input_tokens, 0);
}

TEST(UsageExtractorOpenAi, OversizedBodyIsReportedNotBuffered) {
  const RequestInfo info =
      classifyRequest(ProviderFormat::OpenAI, "/v1/chat/completions", "", R"({"model":"gpt-4o"})");
  UsageExtractor::Limits limits;
  limits.max_json_bytes = 64;
  UsageExtractor extractor(info, 200, kJson, limits);
  const std::string piece(50, ' ');
  extractor.feed(piece);
  extractor.feed(piece);  // 100 bytes > 64
  const UsageResult r = extractor.finish();
  EXPECT_EQ(r.status, UsageStatus::TooLarge);
  EXPECT_EQ(r.usage.output_tokens, 25);  // 100 bytes -> 25 tokens
}

TEST(UsageExtractorOpenAi, ABodyPastItsFreeMiBWithNoAllowanceLeftIsTooLarge) {
  const RequestInfo info =
      classifyRequest(ProviderFormat::OpenAI, "/v1/chat/completions", "", R"({"model":"gpt-4o"})");
  BufferAllowance allowance(1u << 20);
  UsageExtractor::Limits limits;
  limits.buffers = &allowance;
  UsageExtractor holding(info, 200, kJson, limits);
  const std::string mib(1u << 20, ' ');
  holding.feed(mib);
  holding.feed(mib);  // 2 MiB: takes the whole allowance
  EXPECT_EQ(allowance.inUse(), 1u << 20);
  UsageExtractor second(info, 200, kJson, limits);
  second.feed(mib);  // its free part
  second.feed(" ");  // past it: nothing left
  const UsageResult r = second.finish();
  EXPECT_EQ(r.status, UsageStatus::TooLarge);
  EXPECT_TRUE(r.estimated);
  EXPECT_EQ(allowance.inUse(), 1u << 20);
  holding.finish();
  EXPECT_EQ(allowance.inUse(), 0u);  // given back once read
}

TEST(UsageExtractorOpenAi, UnmeteredEndpoint) {
  const RequestInfo info = classifyRequest(ProviderFormat::OpenAI, "/v1/models", "", "");
  EXPECT_EQ(info.kind, EndpointKind::Unmetered);
  EXPECT_EQ(extract(info, kJson, R"({"data":[]})").status, UsageStatus::NotBillable);
}

}  // namespace
}  // namespace spendgate::core
