// The request body is read by a streaming (SAX) scan rather than a parsed document; these tests
// hold it to exactly what the document view (boost::json::parse + json_fields) used to answer.

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/value.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/metering/request_classifier.hpp"
#include "tests/core/reference_body_view.hpp"

namespace spendgate::core {
namespace {

void expectSame(const std::string& body) {
  const testing::BodyView want = testing::referenceBody(body);
  const RequestInfo got = classifyRequest(ProviderFormat::OpenAI, "/v1/chat/completions", "", body);
  EXPECT_EQ(got.body_is_json, want.body_is_json) << body;
  EXPECT_EQ(got.requested_model, want.model) << body;
  EXPECT_EQ(got.stream, want.stream) << body;
  EXPECT_EQ(got.background, want.background) << body;
  EXPECT_EQ(got.include_usage_requested, want.include_usage) << body;
  EXPECT_EQ(got.service_tier, want.service_tier) << body;
  EXPECT_EQ(got.max_output_tokens, want.max_output_tokens) << body;
  EXPECT_EQ(got.choices, want.choices) << body;
  EXPECT_EQ(got.needs_usage_injection, want.stream && !want.include_usage && want.body_is_json)
      << body;
}

TEST(RequestClassifierBody, SameAnswersAsTheDocumentView) {
  const std::vector<std::string> bodies = {
      "",
      "{}",
      "[]",
      "null",
      "42",
      "\"model\"",
      " {\"model\":\"gpt-4o\"} ",
      R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]})",
      R"({"model":"gpt-4o","stream":true})",
      R"({"model":"o3","background":true,"stream":true})",
      R"({"background":false})",
      R"({"background":"true"})",
      R"({"background":1})",
      R"({"background":null})",
      R"({"background":true,"background":false})",
      R"({"background":{"background":true}})",
      R"({"input":[{"background":true}],"model":"o3"})",
      R"({"backgroun\u0064":true})",
      R"({"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}})",
      R"({"model":"gpt-4o","stream":true,"stream_options":{"include_usage":false}})",
      R"({"stream":"true","stream_options":{"include_usage":1}})",
      R"({"stream":1})",
      R"({"stream":null})",
      R"({"stream_options":true})",
      R"({"stream_options":[{"include_usage":true}]})",
      R"({"stream_options":{"include_usage":{"x":true}}})",
      R"({"stream_options":{"nested":{"include_usage":true}}})",
      R"({"messages":[{"stream":true,"model":"inner"}],"model":"outer"})",
      R"({"messages":{"stream":true,"model":"inner","stream_options":{"include_usage":true}}})",
      R"({"tools":[{"function":{"parameters":{"max_tokens":5}}}]})",
      // Duplicates: the last one wins, whatever its type.
      R"({"model":"a","model":"b"})",
      R"({"model":"a","model":5})",
      R"({"model":5,"model":"a"})",
      R"({"stream":true,"stream":false})",
      R"({"stream_options":{"include_usage":true},"stream_options":{}})",
      R"({"stream_options":{"include_usage":true},"stream_options":null})",
      R"({"stream_options":{"include_usage":true,"include_usage":false}})",
      R"({"generationConfig":{"maxOutputTokens":5},"generationConfig":{"candidateCount":3}})",
      R"({"max_tokens":10,"max_tokens":"x"})",
      // Escapes in keys and values.
      R"({"mod\u0065l":"gpt\u002d4o","service\u005ftier":"flex"})",
      R"({"model":"caf\u00e9 \ud83d\ude00","stream":true})",
      R"({"model":"a\"b\\c\/d\n"})",
      R"({"\u006e":4})",
      // Numbers of every shape.
      R"({"max_tokens":100})",
      R"({"max_tokens":-1})",
      R"({"max_tokens":-1,"max_output_tokens":7})",
      R"({"max_tokens":0})",
      R"({"max_tokens":100.0})",
      R"({"max_tokens":100.5})",
      R"({"max_tokens":1e3})",
      R"({"max_tokens":1E20})",
      R"({"max_tokens":-0.0})",
      R"({"max_tokens":9223372036854775807})",
      R"({"max_tokens":9223372036854775808})",
      R"({"max_tokens":18446744073709551615})",
      R"({"max_tokens":18446744073709551616})",
      R"({"max_tokens":8999999999999999000.0})",
      R"({"max_completion_tokens":300,"max_tokens":100})",
      R"({"max_completion_tokens":null,"max_tokens":100})",
      R"({"max_completion_tokens":true,"max_tokens":100})",
      R"({"generationConfig":{"maxOutputTokens":800,"candidateCount":4}})",
      R"({"generationConfig":{"maxOutputTokens":"800","candidateCount":"4"}})",
      R"({"generationConfig":[],"n":3})",
      R"({"n":1000})",
      R"({"n":2.0})",
      R"({"n":2.5,"generationConfig":{"candidateCount":6}})",
      R"({"n":-3})",
      R"({"best_of":5,"max_tokens":50})",
      R"({"n":2,"best_of":5})",
      R"({"n":6,"best_of":3})",
      R"({"best_of":"5","n":2})",
      R"({"best_of":1000})",
      // Gemini's snake_case spellings, alone and mixed with camelCase (camelCase is read first).
      R"({"generation_config":{"max_output_tokens":800,"candidate_count":4}})",
      R"({"generation_config":{"maxOutputTokens":700},"generationConfig":{"candidate_count":2}})",
      R"({"generationConfig":{"max_output_tokens":9,"maxOutputTokens":5}})",
      R"({"generationConfig":{"maxOutputTokens":"5"},"generation_config":{"max_output_tokens":6}})",
      R"({"generation_config":{"max_output_tokens":6},"generationConfig":{"maxOutputTokens":5}})",
      R"({"generation_config":{"candidate_count":3},"generation_config":{"max_output_tokens":1}})",
      R"({"generation_config":[],"generationConfig":null,"max_tokens":4})",
      R"({"generation_config":{"max_output_tokens":-1,"candidateCount":2.0}})",
      // Not one valid value: nothing counts.
      R"({"model":"gpt-4o")",
      R"({"model":"gpt-4o"} x)",
      R"({"model":"gpt-4o"}{})",
      R"({"model":"gpt-4o",})",
      R"({"model":"gpt-4o"} // comment)",
      R"({"model":'gpt-4o'})",
      "{\"model\":\"\xff\xfe\"}",
      "{\"model\":\"ok\",\"x\":\"\xc3\"}",
      "{\"model\":\"caf\xc3\xa9\"}",
      R"({"model":"gpt-4o","stream":true,"x":[1,2,)",
      "not json",
      R"({"model":"a","max_tokens":5)",
      std::string("{\"model\":\"a\0\"}", 14),
      // A long key that shares a prefix with one that matters.
      R"({"max_completion_tokens_and_then_some_more_characters":5,"model_name":"x"})",
      "{\"" + std::string(100, 'k') + "\":1,\"model\":\"m\"}",
      "{\"model\":\"" + std::string(100000, 'x') + "\",\"stream\":true}",
      // A UTF-8 BOM is skipped, once, at the start only.
      "\xEF\xBB\xBF{\"model\":\"m\",\"stream\":true}",
      "\xEF\xBB\xBF\xEF\xBB\xBF{\"model\":\"m\"}",
      "{\"model\":\"m\"}\xEF\xBB\xBF",
      "\xEF\xBB\xBF",
  };
  for (const auto& body : bodies) expectSame(body);
}

TEST(RequestClassifierBody, DepthLimitIsTheSame) {
  for (const int depth : {1, 2, 100, 256, 257, 300, 1022, 1023, 1024, 1025, 1100}) {
    std::string body = R"({"model":"m","x":)";
    for (int i = 1; i < depth; ++i) body += "[";
    for (int i = 1; i < depth; ++i) body += "]";
    body += "}";
    expectSame(body);
  }
}

}  // namespace
}  // namespace spendgate::core
