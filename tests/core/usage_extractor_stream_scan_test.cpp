// Streamed OpenAI-shaped chunk events (chat completions, legacy completions) are read by the same
// one-pass scan as non-streamed answers, with a choice's `delta` read as its `message`; these tests
// hold it to exactly the document path's results (Limits::document_only): the final result and
// the running counts (reportedSoFar) after every event, one event at a time, whole fixture
// streams and streams put together from a corpus of chunk shapes.
// (parser_mutation_test.cpp runs its mutated bodies through the stream the same way.)

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "core/metering/request_classifier.hpp"
#include "core/usage/usage_extractor.hpp"
#include "tests/core/usage_test_util.hpp"

namespace spendgate::core {
namespace {

/** One SSE event whose data is `data` (a data line per line of it). */
std::string sseEvent(std::string_view data) {
  std::string out;
  std::size_t from = 0;
  while (true) {
    const std::size_t nl = data.find('\n', from);
    out += "data: ";
    out.append(
        data.substr(from, nl == std::string_view::npos ? std::string_view::npos : nl - from));
    out += '\n';
    if (nl == std::string_view::npos) break;
    from = nl + 1;
  }
  out += '\n';
  return out;
}

struct StreamRun {
  std::vector<std::optional<Usage>> so_far;  // after each piece
  UsageResult result;
};

StreamRun runStream(const RequestInfo& info,
                    const std::vector<std::string>& pieces,
                    bool document_only) {
  UsageExtractor::Limits limits;
  limits.document_only = document_only;
  UsageExtractor extractor(info, 200, testing::kSse, limits);
  StreamRun run;
  for (const std::string& piece : pieces) {
    extractor.feed(piece);
    run.so_far.push_back(extractor.reportedSoFar());
  }
  run.result = extractor.finish();
  return run;
}

std::string describe(const std::optional<Usage>& u) {
  if (!u) return "none";
  return "in=" + std::to_string(u->input_tokens) +
         " cached=" + std::to_string(u->cached_input_tokens) +
         " out=" + std::to_string(u->output_tokens) +
         " reasoning=" + std::to_string(u->reasoning_tokens) + " model='" + u->model + "' tier='" +
         u->service_tier + "'";
}

std::string describe(const UsageResult& r) {
  return "status=" + std::string(usageStatusName(r.status)) +
         " estimated=" + std::to_string(r.estimated) +
         " upstream_error=" + std::to_string(r.upstream_error) + " detail='" + r.detail + "' " +
         describe(std::optional<Usage>(r.usage));
}

/** @return "" when the scan and the document path agree on everything, else the difference. */
std::string compareStream(const RequestInfo& info, const std::vector<std::string>& pieces) {
  const StreamRun want = runStream(info, pieces, true);
  const StreamRun got = runStream(info, pieces, false);
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    if (got.so_far[i] != want.so_far[i]) {
      return "after piece " + std::to_string(i) + ": scan {" + describe(got.so_far[i]) +
             "} document {" + describe(want.so_far[i]) + "}";
    }
  }
  const UsageResult& g = got.result;
  const UsageResult& w = want.result;
  if (g.usage != w.usage || g.status != w.status || g.estimated != w.estimated ||
      g.upstream_error != w.upstream_error || g.detail != w.detail) {
    return "result: scan {" + describe(g) + "} document {" + describe(w) + "}";
  }
  return {};
}

std::string joined(const std::vector<std::string>& pieces) {
  std::string out;
  for (const auto& p : pieces) out += p;
  return out;
}

/** The kinds read as OpenAI-shaped chunks, with Gemini's OpenAI-compatible endpoint. */
std::vector<RequestInfo> contexts() {
  std::vector<RequestInfo> all;
  for (const EndpointKind kind :
       {EndpointKind::ChatCompletions, EndpointKind::Completions, EndpointKind::Embeddings}) {
    RequestInfo info;
    info.kind = kind;
    info.request_body_bytes = 240;
    all.push_back(info);
  }
  RequestInfo compat;
  compat.kind = EndpointKind::ChatCompletions;
  compat.format = ProviderFormat::Gemini;
  compat.gemini_compat = true;
  compat.request_body_bytes = 240;
  all.push_back(compat);
  RequestInfo capped;  // an estimate is capped by the request's own output cap
  capped.kind = EndpointKind::ChatCompletions;
  capped.request_body_bytes = 240;
  capped.max_output_tokens = 3;
  all.push_back(capped);
  return all;
}

/** Chunk event data of every shape handleOpenAiChunk() reads, and some it does not. */
const std::vector<std::string>& chunks() {
  static const std::vector<std::string>
      all =
          {
              // OpenAI chat: the role chunk, content, the finish chunk, the usage chunk.
              R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null})",
              R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}],"usage":null})",
              R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"content":" w\u00f6rld \u4e2d\ud83d\ude00 \"q\"\n\tok"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"abc"})",
              "{\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":"
              "\"caf\xc3\xa9 \xe2\x82\xac"
              "\xf0\x9f\x98\x80 1234567\"}}]}",
              R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null})",
              R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","choices":[],"usage":{"prompt_tokens":20,"completion_tokens":10,"total_tokens":30,"prompt_tokens_details":{"cached_tokens":8,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":4,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}})",
              R"({"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3}})",
              // Reasoning texts, refusals, n > 1, tool calls and function calls in pieces.
              R"({"model":"deepseek-reasoner","choices":[{"index":0,"delta":{"role":"assistant","content":null,"reasoning_content":"Let me think"}}]})",
              R"({"model":"o/r","choices":[{"index":0,"delta":{"reasoning":"hmm","content":"a"}}]})",
              R"({"choices":[{"index":0,"delta":{"refusal":"I can't help with that."}}]})",
              R"({"choices":[{"index":0,"delta":{"content":"one"}},{"index":1,"delta":{"content":"two two"}}]})",
              R"({"choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]}}]})",
              R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}}]})",
              R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}},{"index":1,"function":{"arguments":"{}"}},7,null,{"function":"nope"},{"function":{"arguments":5}}]}}]})",
              R"({"choices":[{"index":0,"delta":{"function_call":{"name":"f","arguments":"{\"a\":"}}}]})",
              R"({"choices":[{"index":0,"delta":{"function_call":{"arguments":"1}"}}}]})",
              // Legacy completions.
              R"({"id":"cmpl-1","object":"text_completion","created":1,"model":"gpt-3.5-turbo-instruct","choices":[{"text":"legacy","index":0,"logprobs":null,"finish_reason":null}]})",
              R"({"id":"cmpl-1","object":"text_completion","created":1,"model":"gpt-3.5-turbo-instruct","choices":[{"text":"","index":0,"logprobs":null,"finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}})",
              // Azure: the prompt-filter chunk and content-filter chunks (empty model), tiers.
              R"({"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"prompt_index":0,"content_filter_results":{"hate":{"filtered":false,"severity":"safe"}}}]})",
              R"({"choices":[{"content_filter_offsets":{"check_offset":0,"start_offset":0,"end_offset":7},"content_filter_results":{"hate":{"filtered":false,"severity":"safe"}},"finish_reason":null,"index":0}],"created":0,"id":"","model":"","object":""})",
              R"({"id":"chatcmpl-AzX1","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-11-20","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{"content":"Bonjour"},"logprobs":null,"finish_reason":null}]})",
              R"({"model":"gpt-4o","service_tier":"","choices":[]})",
              R"({"model":"gpt-4o","service_tier":"flex","choices":[]})",
              R"({"model":5,"service_tier":7,"choices":[]})",
              // Gemini's compat endpoint: usage on the last content chunk.
              R"({"choices":[{"delta":{"content":"Paris is","role":"assistant"},"index":0}],"created":1757000000,"id":"x2","model":"gemini-2.5-flash","object":"chat.completion.chunk"})",
              R"({"choices":[{"delta":{"content":" the capital.","role":"assistant"},"finish_reason":"stop","index":0}],"created":1757000000,"id":"x2","model":"gemini-2.5-flash","object":"chat.completion.chunk","usage":{"completion_tokens":102,"prompt_tokens":758,"total_tokens":1725}})",
              R"({"choices":[{"delta":{"content":"x"}}],"usage":{"completion_tokens":5,"prompt_tokens":10,"total_tokens":"x"}})",
              // Usage shapes: null, not an object, empty, garbage, absurd, Responses naming,
              // duplicates.
              R"({"choices":[],"usage":[]})",
              R"({"choices":[],"usage":"x"})",
              R"({"choices":[],"usage":{}})",
              R"({"choices":[],"usage":{"prompt_tokens":"5","completion_tokens":true}})",
              R"({"choices":[],"usage":{"prompt_tokens":-1,"completion_tokens":2}})",
              R"({"choices":[],"usage":{"prompt_tokens":1000000001,"completion_tokens":2}})",
              R"({"choices":[],"usage":{"prompt_tokens":5.0,"completion_tokens":2.5,"total_tokens":1e400}})",
              R"({"choices":[],"usage":{"input_tokens":7,"output_tokens":3,"input_tokens_details":{"cached_tokens":2},"output_tokens_details":{"reasoning_tokens":1}}})",
              R"({"choices":[],"usage":{"prompt_tokens":1},"usage":{"prompt_tokens":2}})",
              R"({"choices":[],"usage":{"prompt_tokens":1,"prompt_tokens":2}})",
              // Choices the scan reads as the document does, or gives up on.
              R"({"choices":[{"delta":null,"message":{"content":"m"}}]})",
              R"({"choices":[{"delta":{"content":"d"},"message":{"content":"mm"}}]})",
              R"({"choices":[{"message":{"content":"only a message"}}]})",
              R"({"choices":[{"delta":"str"},{"delta":[{"content":"x"}]},{"delta":{"content":["x"]}}]})",
              R"({"choices":[{"delta":{"content":"a"},"delta":{"content":"bb"}}]})",
              R"({"choices":[{"delta":{"content":"a","content":"bb"}}]})",
              R"({"choices":[{"text":"t","delta":{"content":"d"}}]})",
              R"({"choices":[1,"two",null,[{"delta":{"content":"nested"}}],{"delta":{"content":"x"}}]})",
              R"({"choices":{"delta":{"content":"not an array"}}})",
              R"({"choices":[],"choices":[{"delta":{"content":"x"}}]})",
              R"({"model":"a","model":"b","choices":[]})",
              R"({"mod\u0065l":"escaped-key","service_tier":"fl\u0065x","choices":[{"d\u0065lta":{"cont\u0065nt":"e"}}]})",
              // Errors.
              R"({"error":{"message":"The server had an error","type":"server_error","param":null,"code":null}})",
              R"({"error":"overloaded","choices":[{"delta":{"content":"partial"}}]})",
              R"({"error":{"code":503}})",
              R"({"error":null,"model":"m","choices":[{"delta":{"content":"fine"}}]})",
              R"({"error":false})",
              // Not JSON objects, invalid JSON, trailing data.
              "",
              "null",
              "[]",
              R"([{"choices":[{"delta":{"content":"x"}}]}])",
              R"("s")",
              R"({"choices":[{"delta":{"content":"cut)",
              R"({"choices":[]} trailing)",
              R"({"choices":[]}{})",
              R"({"choices":[],})",
              "{\"model\":\"\xff\",\"choices\":[]}",
              "{\"choices\":[{\"delta\":{\"content\":\"\xe2\x82\"}}]}",
              "[DONE] ",
              // Long strings (in parts inside the parser) and deep nesting.
              "{\"choices\":[{\"delta\":{\"content\":\"" + std::string(9000, 'x') +
                  "\\n\\u00e9\"}}],\"" + std::string(200, 'k') + "\":1,\"model\":\"" +
                  std::string(300, 'm') + "\"}",
              "{\"choices\":[]," + std::string(63, '[') + std::string(63, ']') + "}",
              "{\"x\":" + std::string(64, '[') + std::string(64, ']') + ",\"choices\":[]}",
          };
  return all;
}

TEST(UsageExtractorStreamScan, EveryChunkAloneMatchesTheDocumentPath) {
  std::size_t index = 0;
  for (const RequestInfo& info : contexts()) {
    for (const std::string& chunk : chunks()) {
      // Alone, then with the stream's end marker, then twice (running values replaced).
      const std::string event = sseEvent(chunk);
      for (const auto& pieces :
           {std::vector<std::string>{event}, std::vector<std::string>{event, "data: [DONE]\n\n"},
            std::vector<std::string>{event, event}}) {
        const std::string why = compareStream(info, pieces);
        EXPECT_EQ(why, "") << "case " << index << " kind " << endpointKindName(info.kind)
                           << (info.gemini_compat ? " (compat)" : "") << ": " << chunk;
        ++index;
      }
    }
  }
}

TEST(UsageExtractorStreamScan, FixtureStreamsMatchTheDocumentPath) {
  for (const char* name : {"openai_chat_stream_client.sse", "openai_chat_stream_injected.sse",
                           "openai_chat_stream_tools_n2.sse", "openai_completions_stream.sse",
                           "azure_chat_stream.sse", "gemini_compat_stream.sse"}) {
    const std::string body = testing::readFixture(name);
    for (const RequestInfo& info : contexts()) {
      // Event by event (split at the blank lines), in one piece, and in pieces of 7 bytes.
      std::vector<std::string> events;
      for (std::size_t from = 0; from < body.size();) {
        const std::size_t end = body.find("\n\n", from);
        const std::size_t to = end == std::string::npos ? body.size() : end + 2;
        events.push_back(body.substr(from, to - from));
        from = to;
      }
      std::vector<std::string> small;
      for (std::size_t i = 0; i < body.size(); i += 7) small.push_back(body.substr(i, 7));
      for (const auto& pieces : {events, std::vector<std::string>{body}, small}) {
        EXPECT_EQ(compareStream(info, pieces), "") << name;
      }
      // Cut short after each event: no end marker, maybe no usage.
      for (std::size_t n = 0; n < events.size(); ++n) {
        EXPECT_EQ(compareStream(info, std::vector<std::string>(events.begin(), events.begin() + n)),
                  "")
            << name << " cut after " << n << " events";
      }
    }
  }
}

TEST(UsageExtractorStreamScan, StreamsOfMixedChunksMatchTheDocumentPath) {
  const auto& corpus = chunks();
  std::mt19937 rng(0x5eed'0021);
  std::size_t failures = 0;
  for (std::size_t i = 0; i < 1500; ++i) {
    const std::size_t n = 1 + rng() % 8;
    std::vector<std::string> pieces;
    for (std::size_t e = 0; e < n; ++e) pieces.push_back(sseEvent(corpus[rng() % corpus.size()]));
    if (rng() % 3 == 0) pieces.push_back("data: [DONE]\n\n");
    const auto contexts_all = contexts();
    const RequestInfo& info = contexts_all[rng() % contexts_all.size()];
    const std::string why = compareStream(info, pieces);
    if (!why.empty() && ++failures <= 10) {
      ADD_FAILURE() << "stream " << i << ": " << why << "\n" << joined(pieces);
    }
  }
  EXPECT_EQ(failures, 0u);
}

TEST(UsageExtractorStreamScan, ReadsTheCommonStream) {
  RequestInfo chat;
  chat.kind = EndpointKind::ChatCompletions;
  const std::string body = testing::readFixture("azure_chat_stream.sse");
  UsageExtractor extractor(chat, 200, testing::kSse);
  extractor.feed(body);
  const UsageResult r = extractor.finish();
  EXPECT_EQ(r.status, UsageStatus::Reported);
  EXPECT_EQ(r.usage.model, "gpt-4o-2024-11-20");  // the empty model of the filter chunks kept out
  EXPECT_EQ(r.usage.service_tier, "default");
  EXPECT_EQ(r.usage.input_tokens, 1200);
  EXPECT_FALSE(r.estimated);
}

}  // namespace
}  // namespace spendgate::core
