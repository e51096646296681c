// Non-streamed OpenAI-shaped answers are read by a one-pass scan instead of a parsed document;
// these tests hold the scan to exactly the document path's results (Limits::document_only).

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/metering/request_classifier.hpp"
#include "core/usage/usage_extractor.hpp"

namespace spendgate::core {
namespace {

UsageResult run(const RequestInfo& info, const std::string& body, bool document_only) {
  UsageExtractor::Limits limits;
  limits.document_only = document_only;
  UsageExtractor extractor(info, 200, "application/json", limits);
  // Two pieces, as a relay would feed them.
  extractor.feed(std::string_view(body).substr(0, body.size() / 2));
  extractor.feed(std::string_view(body).substr(body.size() / 2));
  return extractor.finish();
}

void expectSame(const RequestInfo& info, const std::string& body) {
  const UsageResult want = run(info, body, true);
  const UsageResult got = run(info, body, false);
  EXPECT_EQ(got.usage, want.usage) << body;
  EXPECT_EQ(got.status, want.status) << body;
  EXPECT_EQ(got.estimated, want.estimated) << body;
  EXPECT_EQ(got.upstream_error, want.upstream_error) << body;
  EXPECT_EQ(got.detail, want.detail) << body;
}

const std::vector<std::string>& bodies() {
  static const std::vector<std::string> all = {
      "",
      "   ",
      "{}",
      "[]",
      "null",
      "[{\"usage\":{\"prompt_tokens\":1}}]",
      R"({"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"Hello!"},"finish_reason":"stop"}],"usage":{"prompt_tokens":20,"completion_tokens":10,"total_tokens":30}})",
      R"({"model":"gpt-4o","service_tier":"default","usage":{"prompt_tokens":1486,"completion_tokens":651,"total_tokens":2137,"prompt_tokens_details":{"cached_tokens":1408,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":512,"audio_tokens":0}},"choices":[{"message":{"content":"caf\u00e9 \ud83d\ude00 ok","refusal":null}}]})",
      // Without usage: estimated from the texts (code points).
      R"({"model":"gpt-4o","choices":[{"message":{"content":"héllo wörld \u00e9\u4e2d","reasoning_content":"think","reasoning":"more","refusal":"no"}}]})",
      R"({"choices":[{"text":"legacy completion text"},{"text":"second choice"}]})",
      // Texts counted eight bytes at a time: lengths around the blocks, multibyte at the edges.
      R"({"choices":[{"message":{"content":"Hello! How can I help you today? \u00e9"}}]})",
      "{\"choices\":[{\"message\":{\"content\":\"1234567\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
      "abcdefg\xc3\xa9\"}}]}",
      "{\"choices\":[{\"text\":\"\xe4\xb8\xad\xe4\xb8\xad\xe4\xb8\xad\xe4\xb8\xad\xe4\xb8\xad"
      "\xe4\xb8\xad\xe4\xb8\xad\xe4\xb8\xad\xe4\xb8\xad\"}]}",
      // Usage out of range: the estimate from the texts is what counts.
      "{\"choices\":[{\"message\":{\"content\":\"\xc3\xa9t\xc3\xa9 \xc3\xa9t\xc3\xa9 "
      "\xc3\xa9t\xc3\xa9 "
      "\xc3\xa9t\xc3\xa9\"}}],\"usage\":{\"prompt_tokens\":-1,\"completion_tokens\":2}}",
      R"({"choices":[{"message":{"content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"city\":\"Paris\"}"}},{"function":{"arguments":"{}"}},7,"x",{"function":"nope"}]}}]})",
      R"({"choices":[{"message":{"function_call":{"name":"f","arguments":"{\"a\":1}"}}}]})",
      R"({"choices":[{"message":{"content":[{"type":"text","text":"parts are not counted"}]}}]})",
      R"({"choices":[1,"two",null,[{"message":{"content":"nested"}}],{"message":"str"},{"message":{"content":"x"}}]})",
      R"({"choices":{"message":{"content":"not an array"}}})",
      R"({"choices":[{"delta":{"content":"streamed shape"}}]})",
      R"({"choices":[{"delta":null,"message":{"content":"m"}}]})",
      R"({"choices":[{"message":{"content":"a","content":"bb"}}]})",
      R"({"choices":[{"message":{"content":"a"},"message":{"content":"bb"}}]})",
      // Errors.
      R"({"error":{"message":"boom","type":"server_error","code":null}})",
      R"({"error":"overloaded"})",
      R"({"error":null,"model":"m","usage":{"prompt_tokens":3,"completion_tokens":4}})",
      R"({"error":{"code":503},"choices":[{"message":{"content":"partial"}}]})",
      R"({"error":false})",
      // Models and tiers.
      R"({"model":"","usage":{"prompt_tokens":1,"completion_tokens":1}})",
      R"({"model":5,"service_tier":7,"usage":{"prompt_tokens":1,"completion_tokens":1}})",
      R"({"model":"a","model":"b","usage":{"prompt_tokens":1,"completion_tokens":1}})",
      R"({"mod\u0065l":"escaped-key","service_tier":"fl\u0065x","usage":{"prompt_tokens":1}})",
      R"({"service_tier":"","usage":{"prompt_tokens":1}})",
      // Usage shapes.
      R"({"usage":null})",
      R"({"usage":[]})",
      R"({"usage":"x"})",
      R"({"usage":{}})",
      R"({"usage":{"prompt_tokens":5}})",
      R"({"usage":{"prompt_tokens":5,"completion_tokens":null,"total_tokens":null}})",
      R"({"usage":{"prompt_tokens":"5","completion_tokens":2}})",
      R"({"usage":{"prompt_tokens":true,"completion_tokens":2}})",
      R"({"usage":{"prompt_tokens":{},"completion_tokens":2}})",
      R"({"usage":{"prompt_tokens":-1,"completion_tokens":2}})",
      R"({"usage":{"prompt_tokens":1000000001,"completion_tokens":2}})",
      R"({"usage":{"prompt_tokens":1000000000,"completion_tokens":2}})",
      R"({"usage":{"prompt_tokens":5.0,"completion_tokens":2.5}})",
      R"({"usage":{"prompt_tokens":5e2,"completion_tokens":18446744073709551615}})",
      R"({"usage":{"prompt_tokens":9223372036854775808,"completion_tokens":1}})",
      R"({"usage":{"prompt_tokens":10,"completion_tokens":5,"prompt_tokens_details":null,"completion_tokens_details":null}})",
      R"({"usage":{"prompt_tokens":10,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":11}}})",
      R"({"usage":{"prompt_tokens":10,"completion_tokens":5,"completion_tokens_details":{"reasoning_tokens":6}}})",
      R"({"usage":{"prompt_tokens":10,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":"x"}}})",
      R"({"usage":{"prompt_tokens":10,"completion_tokens":5,"prompt_tokens_details":[{"cached_tokens":3}]}})",
      R"({"usage":{"prompt_tokens":10,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":3,"cached_tokens":4}}})",
      R"({"usage":{"prompt_tokens":10,"prompt_tokens":12}})",
      R"({"usage":{"prompt_tokens":1},"usage":{"prompt_tokens":2}})",
      // Responses naming inside a chat answer (input_tokens present switches the naming).
      R"({"usage":{"input_tokens":7,"output_tokens":3,"input_tokens_details":{"cached_tokens":2},"output_tokens_details":{"reasoning_tokens":1},"prompt_tokens":"garbage"}})",
      R"({"usage":{"input_tokens":null,"prompt_tokens":9,"completion_tokens":2}})",
      R"({"usage":{"output_tokens":"x","prompt_tokens":9}})",
      // Audio counts (gpt-4o-audio-preview), absurd ones, duplicates, in the Responses naming.
      R"({"usage":{"prompt_tokens":1000,"completion_tokens":500,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":800},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":400}}})",
      R"({"usage":{"prompt_tokens":10,"completion_tokens":5,"prompt_tokens_details":{"audio_tokens":11},"completion_tokens_details":{"audio_tokens":6}}})",
      R"({"usage":{"prompt_tokens":10,"prompt_tokens_details":{"audio_tokens":1,"audio_tokens":2}}})",
      R"({"usage":{"prompt_tokens":10,"prompt_tokens_details":{"audio_tokens":"x"},"completion_tokens_details":{"audio_tokens":null}}})",
      R"({"usage":{"input_tokens":10,"output_tokens":5,"input_tokens_details":{"audio_tokens":3},"prompt_tokens_details":{"audio_tokens":4}}})",
      // Gemini compat: output = total - prompt.
      R"({"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":40}})",
      R"({"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":"x"}})",
      // Invalid JSON and trailing data.
      R"({"usage":{"prompt_tokens":1})",
      R"({"usage":{"prompt_tokens":1}} trailing)",
      R"({"usage":{"prompt_tokens":1}}{})",
      R"({"usage":{"prompt_tokens":1},})",
      "{\"model\":\"\xff\",\"usage\":{\"prompt_tokens\":1}}",
      "{\"choices\":[{\"message\":{\"content\":\"\xc3\xa9\xe2\x82\xac\"}}],\"usage\":{}}",
      // Long strings and keys.
      "{\"choices\":[{\"message\":{\"content\":\"" + std::string(50000, 'x') +
          "\\n\\u00e9\"}}],\"" + std::string(200, 'k') + "\":1,\"usage\":{\"prompt_tokens\":3}}",
  };
  return all;
}

TEST(UsageExtractorScan, ChatAnswersMatchTheDocumentPath) {
  RequestInfo chat;
  chat.kind = EndpointKind::ChatCompletions;
  chat.request_body_bytes = 120;
  for (const auto& body : bodies()) expectSame(chat, body);
}

TEST(UsageExtractorScan, CompletionsEmbeddingsAndGeminiCompatMatchTheDocumentPath) {
  for (const EndpointKind kind : {EndpointKind::Completions, EndpointKind::Embeddings}) {
    RequestInfo info;
    info.kind = kind;
    for (const auto& body : bodies()) expectSame(info, body);
  }
  RequestInfo compat;
  compat.kind = EndpointKind::ChatCompletions;
  compat.format = ProviderFormat::Gemini;
  compat.gemini_compat = true;
  for (const auto& body : bodies()) expectSame(compat, body);
}

TEST(UsageExtractorScan, FinishWithTheHeldBodyIsFeedThenFinish) {
  // The relay holds a non-streamed answer and passes it to finish(rest) instead of feeding it.
  for (const EndpointKind kind : {EndpointKind::ChatCompletions, EndpointKind::Embeddings,
                                  EndpointKind::Responses, EndpointKind::AnthropicMessages}) {
    RequestInfo info;
    info.kind = kind;
    info.request_body_bytes = 120;
    info.max_output_tokens = 5;
    for (const bool document_only : {false, true}) {
      UsageExtractor::Limits limits;
      limits.document_only = document_only;
      for (const auto& body : bodies()) {
        const UsageResult want = run(info, body, document_only);
        for (const std::size_t fed : {std::size_t{0}, body.size() / 2}) {
          UsageExtractor extractor(info, 200, "application/json", limits);
          extractor.feed(std::string_view(body).substr(0, fed));
          const UsageResult got = extractor.finish(std::string_view(body).substr(fed));
          EXPECT_EQ(got.usage, want.usage) << body;
          EXPECT_EQ(got.status, want.status) << body;
          EXPECT_EQ(got.estimated, want.estimated) << body;
          EXPECT_EQ(got.upstream_error, want.upstream_error) << body;
          EXPECT_EQ(got.detail, want.detail) << body;
        }
      }
    }
  }
  // Other modes are fed as before.
  RequestInfo chat;
  chat.kind = EndpointKind::ChatCompletions;
  const std::string sse =
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n\n"
      "data: [DONE]\n\n";
  UsageExtractor fed(chat, 200, "text/event-stream");
  fed.feed(sse);
  UsageExtractor held(chat, 200, "text/event-stream");
  const UsageResult want = fed.finish();
  const UsageResult got = held.finish(sse);
  EXPECT_EQ(got.usage, want.usage);
  EXPECT_EQ(got.status, want.status);
  EXPECT_EQ(got.usage.input_tokens, 3);
  // Over the JSON limit: too large, as when fed.
  UsageExtractor::Limits small;
  small.max_json_bytes = 4;
  UsageExtractor large(chat, 200, "application/json", small);
  EXPECT_EQ(large.finish(R"({"usage":{}})").status, UsageStatus::TooLarge);
}

// finishInto() writes every member of a result that held anything, as finish() returns it.
TEST(UsageExtractorScan, FinishIntoAKeptResultIsFinish) {
  const auto dirty = [] {
    UsageResult r;
    r.usage.input_tokens = 999;
    r.usage.cached_input_tokens = 9;
    r.usage.output_tokens = 998;
    r.usage.reasoning_tokens = 7;
    r.usage.web_search_requests = 3;
    r.usage.model = "a-model-name-longer-than-fifteen";
    r.usage.service_tier = "priority";
    r.usage.reported = true;
    r.status = UsageStatus::Absurd;
    r.estimated = true;
    r.upstream_error = true;
    r.detail = "left from the request before";
    return r;
  };
  const auto expectEqual = [](const UsageResult& got, const UsageResult& want,
                              const std::string& what) {
    EXPECT_EQ(got.usage, want.usage) << what;
    EXPECT_EQ(got.status, want.status) << what;
    EXPECT_EQ(got.estimated, want.estimated) << what;
    EXPECT_EQ(got.upstream_error, want.upstream_error) << what;
    EXPECT_EQ(got.detail, want.detail) << what;
  };
  for (const EndpointKind kind :
       {EndpointKind::ChatCompletions, EndpointKind::Embeddings, EndpointKind::Responses,
        EndpointKind::AnthropicMessages, EndpointKind::Unmetered}) {
    RequestInfo info;
    info.kind = kind;
    info.request_body_bytes = 120;
    info.max_output_tokens = 5;
    for (const int status : {200, 500}) {
      for (const auto& body : bodies()) {
        UsageExtractor fed(info, status, "application/json");
        fed.feed(body);
        const UsageResult want = fed.finish();
        UsageExtractor held(info, status, "application/json");
        UsageResult got = dirty();
        held.finishInto(body, got);
        expectEqual(got, want, body);
        UsageExtractor fed_into(info, status, "application/json");
        fed_into.feed(body);
        UsageResult got_fed = dirty();
        fed_into.finishInto(got_fed);
        expectEqual(got_fed, want, body);
      }
    }
  }
  // Streams: complete (reported), cut short after usage (partial), with no usage (estimated).
  RequestInfo chat;
  chat.kind = EndpointKind::ChatCompletions;
  chat.request_body_bytes = 80;
  for (const std::string& sse :
       {std::string("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,"
                    "\"completion_tokens\":4}}\n\ndata: [DONE]\n\n"),
        std::string("data: {\"choices\":[{\"delta\":{\"content\":\"hello\"}}],"
                    "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\n"),
        std::string("data: {\"choices\":[{\"delta\":{\"content\":\"hello\"}}]}\n\n")}) {
    UsageExtractor fed(chat, 200, "text/event-stream");
    fed.feed(sse);
    const UsageResult want = fed.finish();
    UsageExtractor into(chat, 200, "text/event-stream");
    into.feed(sse);
    UsageResult got = dirty();
    into.finishInto(got);
    expectEqual(got, want, sse);
  }
}

TEST(UsageExtractorScan, DepthLimitIsTheSame) {
  for (const int depth : {10, 62, 63, 64, 65, 70}) {
    std::string body = R"({"usage":{"prompt_tokens":1},"x":)";
    for (int i = 1; i < depth; ++i) body += "[";
    for (int i = 1; i < depth; ++i) body += "]";
    body += "}";
    RequestInfo chat;
    chat.kind = EndpointKind::ChatCompletions;
    expectSame(chat, body);
  }
}

TEST(UsageExtractorScan, ReadsTheCommonAnswer) {
  RequestInfo chat;
  chat.kind = EndpointKind::ChatCompletions;
  const UsageResult r = run(chat, bodies()[6], false);
  EXPECT_EQ(r.status, UsageStatus::Reported);
  EXPECT_EQ(r.usage.input_tokens, 20);
  EXPECT_EQ(r.usage.output_tokens, 10);
  EXPECT_EQ(r.usage.model, "gpt-4o-mini-2024-07-18");
  EXPECT_FALSE(r.estimated);
}

}  // namespace
}  // namespace spendgate::core
