// The answer scan's fast path (simdjson's DOM, for non-streamed answers with an escape) against
// the SAX scan (Boost.JSON's basic_parser) it stands in for: over a corpus of answers and byte
// mutations of them, the fast path must give the same answer or give up where the SAX scan does
// (or leave the body to it: NotRead). parser_mutation_test.cpp runs the same check on its inputs,
// and the extractor's scan against the document path covers the whole chain.

#include "core/usage/openai_answer_scan.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/metering/request_classifier.hpp"
#include "core/usage/usage_extractor.hpp"
#include "tests/core/openai_answer_scan_check.hpp"

namespace spendgate::core {
namespace {

using testing::checkAnswerScans;
using testing::FastTally;

/** Markdown-like text as a JSON string's inside: escapes, quotes, code, non-ASCII, raw and \u. */
std::string escapedText(std::size_t bytes, unsigned seed) {
  static const std::vector<std::string> pieces = {
      "Here is a line of typical markdown output",
      "\\n",
      "\\n\\n## Heading\\n",
      "- item with \\\"quotes\\\" and a path C:\\\\tmp\\\\x",
      "```python\\nprint(\\\"hi\\\")\\n```",
      "caf\xc3\xa9 \xe2\x80\x94 em dash",
      "\\u00e9\\u4e2d\\ud83d\\ude00",
      "\\t tab \\/ slash \\b\\f\\r",
      "\xe4\xb8\xad\xe6\x96\x87",
      "\xf0\x9f\x98\x80",
      " plain words and more plain words ",
  };
  std::mt19937 rng(seed);
  std::string out;
  while (out.size() < bytes) out += pieces[rng() % pieces.size()];
  return out;
}

std::string chatAnswer(const std::string& content, const std::string& usage) {
  return R"({"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":")" +
         content + R"(","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":)" +
         usage + R"(,"service_tier":"default","system_fingerprint":"fp_1"})";
}

const std::vector<std::string>& corpus() {
  static const std::vector<std::string> all = [] {
    const std::string usage =
        R"({"prompt_tokens":1486,"completion_tokens":651,"total_tokens":2137,"prompt_tokens_details":{"cached_tokens":1408,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":512,"audio_tokens":0}})";
    std::vector<std::string> v = {
        chatAnswer("Hello! How can I help you today?", usage),
        chatAnswer("Line one\\nLine two", R"({"prompt_tokens":20,"completion_tokens":10})"),
        chatAnswer(escapedText(300, 1), usage),
        chatAnswer(escapedText(2000, 2), usage),
        chatAnswer(escapedText(9000, 3), usage),
        chatAnswer(escapedText(60000, 4), usage),
        chatAnswer(escapedText(70000, 5), usage),  // over the fast path's limit
        R"({"model":"o1","choices":[{"message":{"content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"city\":\"Paris\",\"note\":\"a\\nb\"}"}},{"function":{"arguments":"{}"}},7,"x",{"function":"nope"}],"function_call":{"name":"g","arguments":"{\"a\":1}"}}}],"usage":{"prompt_tokens":9,"completion_tokens":4}})",
        R"({"id":"cmpl-1","object":"text_completion","model":"gpt-3.5-turbo-instruct","choices":[{"text":"legacy\ntext \"q\"","index":0},{"text":"second\\"}],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}})",
        R"({"model":"gpt-4o","choices":[{"message":{"content":"h\u00e9llo","reasoning_content":"think\n","reasoning":"more\t","refusal":"no\/"}}]})",
        R"({"choices":[{"message":{"content":"thinking\n done","reasoning_content":"hmm"}}],"model":"gemini-2.5-flash","usage":{"completion_tokens":5,"prompt_tokens":10,"total_tokens":40}})",
        R"({"usage":{"input_tokens":7,"output_tokens":3,"input_tokens_details":{"cached_tokens":2},"output_tokens_details":{"reasoning_tokens":1},"prompt_tokens":"garbage\n"}})",
        R"({"usage":{"input_tokens":null,"prompt_tokens":9,"completion_tokens":2},"model":"a\nb"})",
        R"({"usage":{"prompt_tokens":5.0,"completion_tokens":2.5},"model":"m\n"})",
        R"({"usage":{"prompt_tokens":5e2,"completion_tokens":18446744073709551615},"model":"m\n"})",
        R"({"usage":{"prompt_tokens":9223372036854775808,"completion_tokens":-0,"total_tokens":-1},"model":"m\n"})",
        R"({"usage":{"prompt_tokens":123456789012345678901234567890},"model":"m\n"})",
        R"({"usage":{"prompt_tokens":{},"completion_tokens":[],"total_tokens":true,"prompt_tokens_details":null,"completion_tokens_details":[{"reasoning_tokens":3}]},"model":"m\n"})",
        R"({"usage":{"prompt_tokens":10,"prompt_tokens_details":{"audio_tokens":1,"audio_tokens":2}},"x":"\n"})",
        R"({"usage":{"prompt_tokens":1},"usage":{"prompt_tokens":2},"x":"\n"})",
        R"({"model":"a","model":"b","x":"\n"})",
        R"({"mod\u0065l":"escaped-key","service_tier":"fl\u0065x","usage":{"prompt_tokens":1}})",
        R"({"choices":[{"delta":{"content":"streamed\nshape"}}]})",
        R"({"choices":[{"message":{"content":"a\n","content":"bb"}}]})",
        R"({"choices":[{"message":{"content":"a\n"},"message":{"content":"bb"}}]})",
        R"({"choices":[1,"two\n",null,[{"message":{"content":"nested"}}],{"message":"str"},{"message":{"content":"x"}}]})",
        R"({"choices":{"message":{"content":"not an array\n"}}})",
        R"({"error":{"message":"boom\n","type":"server_error","code":null}})",
        R"({"error":"overloaded\n"})",
        R"({"error":null,"model":"m\n","usage":{"prompt_tokens":3,"completion_tokens":4}})",
        R"({"error":false,"x":"\n"})",
        R"({"error":[],"x":"\n"})",
        R"({"model":5,"service_tier":["\n"],"usage":"x\n"})",
        R"({"usage":null,"choices":null,"model":null,"x":"\n"})",
        R"({"x":"\ud800","usage":{"prompt_tokens":1}})",
        R"({"x":"\udc00\ud800","usage":{"prompt_tokens":1}})",
        R"({"x":"\ud83d\u0041","usage":{"prompt_tokens":1}})",
        R"({"x":"\u0000","k\u0000":1,"usage":{"prompt_tokens":1}})",
        R"({"x":"\q","usage":{"prompt_tokens":1}})",
        R"({"x":"\u12","usage":{"prompt_tokens":1}})",
        "\xef\xbb\xbf{\"model\":\"bom\\n\",\"usage\":{\"prompt_tokens\":1}}",
        "{\"model\":\"\\n\xff\",\"usage\":{\"prompt_tokens\":1}}",
        "{\"model\":\"\\n\xed\xa0\x80\",\"usage\":{\"prompt_tokens\":1}}",
        "{\"model\":\"\\n\xc0\xaf\",\"usage\":{\"prompt_tokens\":1}}",
        "{\"model\":\"\\n\",\"x\":\"\x01\"}",
        R"({"model":"\n"} )",
        R"( {"model":"\n"})",
        "{\"model\":\"\\n\"}\t\r\n",
        R"({"model":"\n"} x)",
        R"({"model":"\n"}{})",
        R"({"model":"\n",})",
        R"({"model":"\n"})"
        R"(
)",
        R"([{"model":"\n"}])",
        R"("\n")",
        R"(null)",
        "",
        R"({"x":1e400,"model":"\n"})",
        R"({"x":1e-9223372036854775808,"model":"\n","usage":{"prompt_tokens":1}})",
        R"({"x":[1e-2147483648,1e-2147483647,1e-2147483600],"model":"\n","usage":{"prompt_tokens":1}})",
        R"({"x":[1e2147483647,1e0000000000001,0e99999999999],"model":"\n","usage":{"prompt_tokens":1}})",
        R"({"x":[0.0,-0,-0.0,0e5,1e-400,2.5,-1,18446744073709551615],"model":"\n","usage":{"prompt_tokens":1}})",
        R"({"x":-1e400,"y":1E-400,"model":"\n"})",
        R"({"x":01,"model":"\n"})",
        R"({"x":1.,"model":"\n"})",
        R"({"x":.5,"model":"\n"})",
        R"({"x":-,"model":"\n"})",
        R"({"x":tru,"model":"\n"})",
        R"({"x":nul,"model":"\n"})",
        R"({"x":/*c*/1,"model":"\n"})",
    };
    // Nesting around the limits of both (the fast path's 32, the SAX scan's 64).
    for (const int depth : {30, 31, 32, 33, 63, 64, 65}) {
      std::string body = R"({"model":"\n","usage":{"prompt_tokens":1},"x":)";
      for (int i = 1; i < depth; ++i) body += "[";
      for (int i = 1; i < depth; ++i) body += "]";
      body += "}";
      v.push_back(body);
      std::string in_choices =
          R"({"choices":[{"message":{"content":"\n","tool_calls":[{"function":{"arguments":)";
      for (int i = 1; i < depth; ++i) in_choices += "{\"a\":";
      in_choices += "\"\\n\"";
      for (int i = 1; i < depth; ++i) in_choices += "}";
      in_choices += "}}]}}]}";
      v.push_back(in_choices);
    }
    return v;
  }();
  return all;
}

/** Bodies without a backslash for the plain scan: answers and chunk events, each shape it reads,
 * and the edges of its grammar (UTF-8, control characters, numbers, nesting, whitespace). */
const std::vector<std::string>& plainCorpus() {
  static const std::vector<std::string> all = [] {
    std::vector<std::string> v = {
        // The bench's answer (scripts/bench, scripts/dev/callgrind.sh).
        R"({"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":20,"completion_tokens":10,"total_tokens":30},"system_fingerprint":"fp_bench"})",
        // Pretty-printed, as the API sends it, with raw non-ASCII text.
        "{\n  \"id\": \"chatcmpl-2\",\n  \"object\": \"chat.completion\",\n  \"model\": "
        "\"gpt-4o-2024-08-06\",\n  \"choices\": [\n    {\n      \"index\": 0,\n      "
        "\"message\": {\n        \"role\": \"assistant\",\n        \"content\": \"caf\xc3\xa9 "
        "\xe2\x80\x94 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80 done\",\n        \"refusal\": "
        "null\n      },\n      \"finish_reason\": \"stop\"\n    }\n  ],\n  \"usage\": {\n    "
        "\"prompt_tokens\": 19,\n    \"completion_tokens\": 10,\n    \"total_tokens\": 29,\n    "
        "\"prompt_tokens_details\": {\n      \"cached_tokens\": 0,\n      \"audio_tokens\": 0\n    "
        "},\n    \"completion_tokens_details\": {\n      \"reasoning_tokens\": 0,\n      "
        "\"audio_tokens\": 0\n    }\n  },\n  \"service_tier\": \"default\"\r\n}\t\r\n ",
        // Chunk events: a delta, the final usage chunk, a role-only first chunk.
        R"({"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}],"usage":null})",
        R"({"id":"c","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":20,"completion_tokens":10,"total_tokens":30}})",
        R"({"choices":[{"delta":{"role":"assistant","content":""},"message":{"content":"x"}}]})",
        R"({"choices":[{"delta":{"content":"a"},"delta":{"content":"b"}}]})",
        R"({"choices":[{"delta":"str","text":"t"}]})",
        // Responses-style and other usage shapes.
        R"({"usage":{"input_tokens":7,"output_tokens":3,"input_tokens_details":{"cached_tokens":2},"output_tokens_details":{"reasoning_tokens":1},"total_tokens":10}})",
        R"({"usage":{"prompt_tokens":1,"prompt_tokens":2}})",
        R"({"usage":{"prompt_tokens_details":{"cached_tokens":1,"cached_tokens":1}}})",
        R"({"usage":{},"usage_x":{"prompt_tokens":1},"model":"","service_tier":""})",
        R"({"model":"a","service_tier":"b","service_tier":"c"})",
        R"({"error":null,"error":null})",
        R"({"error":{},"model":"m"})",
        R"({"error":"e"})",
        R"({"error":0})",
        R"({"error":true})",
        R"({"error":[1]})",
        R"({"error":nul})",
        R"({"x":{"error":1,"model":"not the root's"},"model":"m"})",
        R"({"model":"o1","choices":[{"message":{"content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}},{"function":{"arguments":"[1,2]","arguments":"x"}}]}}]})",
        R"({"choices":[{"message":{"function_call":{"name":"g","arguments":"{a}"},"reasoning_content":"r","reasoning":"s","refusal":"t"}}]})",
        R"({"choices":[{"text":"legacy","index":0},{"text":"second"},[],{},null,"x",3]})",
        // Counters at the edges of what the plain scan reads.
        R"({"usage":{"prompt_tokens":0,"completion_tokens":999999999999999999,"total_tokens":1000000000000000000}})",
        R"({"usage":{"prompt_tokens":9223372036854775807,"completion_tokens":9223372036854775808,"total_tokens":18446744073709551616}})",
        R"({"usage":{"prompt_tokens":-0,"completion_tokens":-1,"total_tokens":-9223372036854775808}})",
        R"({"usage":{"prompt_tokens":1.0,"completion_tokens":1e2,"total_tokens":1E-2}})",
        R"({"usage":{"prompt_tokens":"1","completion_tokens":true,"total_tokens":false,"input_tokens":null,"output_tokens":[],"prompt_tokens_details":1}})",
        R"({"usage":{"prompt_tokens":00}})",
        R"({"usage":{"prompt_tokens":01}})",
        R"({"usage":{"prompt_tokens":1x}})",
        R"({"usage":{"prompt_tokens":+1}})",
        R"({"usage":{"prompt_tokens":1 }})",
        // Numbers nobody reads: the grammar, and exponents around Boost.JSON's overflow.
        R"({"x":[0,-0,0.5,-0.5,1e5,1E+5,1e-5,1.5e0005,123456789012345678901234567890,-1e-9999],"model":"m"})",
        R"({"x":[1e99999],"model":"m"})",
        R"({"x":[1e2147483648],"model":"m"})",
        R"({"x":[1e-9223372036854775808],"model":"m"})",
        R"({"x":1.,"model":"m"})",
        R"({"x":.5,"model":"m"})",
        R"({"x":-,"model":"m"})",
        R"({"x":1e,"model":"m"})",
        R"({"x":1e+,"model":"m"})",
        R"({"x":--1,"model":"m"})",
        R"({"x":-01,"model":"m"})",
        R"({"x":0x1,"model":"m"})",
        R"({"x":1})",
        R"({"x":-)",
        R"({"x":1.)",
        R"({"x":1e)",
        R"({"x":true,"y":false,"z":null,"model":"m"})",
        R"({"x":tru})",
        R"({"x":nulll})",
        R"({"x":True})",
        R"({"x":fals})",
        R"({"x":t)",
        // Structure.
        "{}",
        "{ }",
        " \t\r\n{\"model\" \t: \"m\" ,\"usage\" :{ \"prompt_tokens\" : 1 } } \n",
        "\f{}",
        "{}\f",
        "{}\v",
        R"({"model":"m",})",
        R"({"model":"m",,"x":1})",
        R"({,"model":"m"})",
        R"({"model" "m"})",
        R"({"model":})",
        R"({"model")",
        R"({"model":"m")",
        R"({"model":"m"}})",
        R"({"model":"m"}])",
        R"({"x":[1,]})",
        R"({"x":[,1]})",
        R"({"x":[1 2]})",
        R"({"x":[}})",
        R"({"x":{})",  // the last `}` closes a nested object: the root is not closed
        R"({"x":[{}})",
        R"({"x":{"y":{}})",
        R"({"model":"m","x":{})",
        R"({"x":{]})",
        R"({"x":[)",
        R"({"x":{)",
        R"({model:"m"})",
        R"({'model':"m"})",
        R"({"model":'m'})",
        R"({"x":/*c*/1})",
        R"({"x":1}//)",
        R"([])",
        R"([{"model":"m"}])",
        R"("m")",
        R"(1)",
        R"(null)",
        "",
        " ",
        "{",
        "\"",
        // Strings: UTF-8 as Boost.JSON checks it, controls, an unterminated string.
        "{\"model\":"
        "\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf\xf0\x90\x80\x80"
        "\xf3\xbf\xbf\xbf\xf4\x8f\xbf\xbf\x7f\",\"choices\":[{\"text\":\"\xc3\xa9\xe2\x80\x94\"}]}",
        "{\"model\":\"\xc0\x80\"}",
        "{\"model\":\"\xc1\xbf\"}",
        "{\"model\":\"\xe0\x9f\xbf\"}",
        "{\"model\":\"\xed\xa0\x80\"}",
        "{\"model\":\"\xf0\x8f\xbf\xbf\"}",
        "{\"model\":\"\xf4\x90\x80\x80\"}",
        "{\"model\":\"\xf5\x80\x80\x80\"}",
        "{\"model\":\"\xff\"}",
        "{\"model\":\"\x80\"}",
        "{\"model\":\"\xc3\"}",
        "{\"model\":\"\xe2\x80\"}",
        "{\"model\":\"\xf0\x9f\x98\"}",
        "{\"model\":\"ab\xc3",
        "{\"model\":\"\xc3\xa9",
        "{\"k\xc3\xa9\":1,\"model\":\"m\"}",
        "{\"k\xc3\":1,\"model\":\"m\"}",
        "{\"model\":\"a\x1f\"}",
        std::string("{\"model\":\"a\0b\"}", 15),
        "{\"model\":\"a\tb\"}",
        "{\"model\":\"a\nb\"}",
        "{\"model\":\"abc",
        "{\"model\":\"abcdefghijklmnop",
        std::string("{\"model\":\"m\"}\0", 14),
    };
    // A special byte at every place of a string around the eight-byte steps.
    for (const std::string special : {"\"", "\x1f", "\xc3\xa9", "\xe2\x80\x94", "\xf0\x9f\x98\x80",
                                      "\xc3", "\xff", "\x7f", "\x20"}) {
      for (std::size_t at = 0; at <= 18; ++at) {
        std::string text(20, 'a');
        text.replace(at, 1, special);
        v.push_back(R"({"model":")" + text + R"(","choices":[{"message":{"content":")" + text +
                    R"("}}],"usage":{"prompt_tokens":1}})");
      }
    }
    // Nesting around the plain scan's limit (32) and the SAX scan's (64).
    for (const int depth : {30, 31, 32, 33, 63, 64, 65}) {
      std::string body = R"({"model":"m","usage":{"prompt_tokens":1},"x":)";
      for (int i = 1; i < depth; ++i) body += "[";
      for (int i = 1; i < depth; ++i) body += "]";
      body += "}";
      v.push_back(body);
      std::string in_choices =
          R"({"choices":[{"message":{"content":"c","tool_calls":[{"function":{"arguments":)";
      for (int i = 1; i < depth; ++i) in_choices += "{\"a\":";
      in_choices += "\"s\"";
      for (int i = 1; i < depth; ++i) in_choices += "}";
      in_choices += "}}]}}]}";
      v.push_back(in_choices);
    }
    // The escaped corpus without its backslashes: mostly the same shapes, now plain (or broken).
    for (std::string body : corpus()) {
      std::erase(body, '\\');
      v.push_back(std::move(body));
    }
    return v;
  }();
  return all;
}

TEST(OpenAiAnswerScan, PlainScanAgreesWithTheSaxScanOnItsCorpus) {
  FastTally tally;
  for (std::size_t i = 0; i < plainCorpus().size(); ++i) {
    const std::string& body = plainCorpus()[i];
    ASSERT_EQ(body.find('\\'), std::string::npos) << "plain corpus " << i;
    for (const bool stream : {false, true}) {
      EXPECT_EQ(testing::checkPlainScan(body, stream, stream ? nullptr : &tally), "")
          << "plain corpus " << i << ": " << body.substr(0, 300);
    }
  }
  // The plain scan must actually read many of them, and give up on some.
  EXPECT_GT(tally.answers, plainCorpus().size() / 3);
  EXPECT_GT(tally.give_ups, 10u);
  // Every answer of the plain corpus gets the SAX scan's result through scanOpenAi().
  for (const std::string& body : plainCorpus()) {
    for (const bool stream : {false, true}) {
      OpenAiAnswer a;
      OpenAiAnswer b;
      const bool got = scanOpenAi(body, stream, a);
      const bool want = scanOpenAiSax(body, stream, b);
      EXPECT_EQ(got, want) << body.substr(0, 300);
      if (got && want) {
        EXPECT_TRUE(testing::sameAnswer(a, b)) << body.substr(0, 300);
      }
    }
  }
  // A backslash leaves the body to the other paths.
  OpenAiAnswer out;
  EXPECT_EQ(scanOpenAiPlain(R"({"model":"a
b"})",
                            false, out),
            FastScan::NotRead);
  EXPECT_EQ(scanOpenAiPlain(R"({"model":"m"})", false, out), FastScan::Answer);
  EXPECT_EQ(out.model, "m");
}

TEST(OpenAiAnswerScan, FastPathAgreesWithTheSaxScanOnTheCorpus) {
  FastTally tally;
  for (std::size_t i = 0; i < corpus().size(); ++i) {
    EXPECT_EQ(checkAnswerScans(corpus()[i], &tally), "")
        << "corpus " << i << ": " << corpus()[i].substr(0, 300);
  }
  // The fast path must actually read most of them.
  EXPECT_GT(tally.answers, corpus().size() / 3);
  EXPECT_GT(tally.give_ups, 5u);
}

/** A byte mutation: flips, any byte, structural characters and escapes inserted, deletions,
 * truncations, a span repeated. */
std::string mutate(std::string s, std::mt19937& rng) {
  static const std::vector<std::string> inserts = {"\\",
                                                   "\"",
                                                   "{",
                                                   "}",
                                                   "[",
                                                   "]",
                                                   ",",
                                                   ":",
                                                   "u",
                                                   "0",
                                                   " ",
                                                   "\n",
                                                   "\xc3",
                                                   "\xff",
                                                   std::string(1, '\0'),
                                                   "\\n",
                                                   "\\u00e9",
                                                   "\\ud83d",
                                                   "\\ude00",
                                                   "\\\"",
                                                   "\\\\",
                                                   "\\u0000",
                                                   "-0",
                                                   "1e400",
                                                   "2.5",
                                                   "null",
                                                   "\"model\":\"m\",",
                                                   "\"usage\":{\"prompt_tokens\":3},",
                                                   "\"error\":null,",
                                                   "\"delta\":{},",
                                                   "\"message\":{\"content\":\"c\\n\"},"};
  const auto below = [&rng](std::size_t n) { return n == 0 ? std::size_t{0} : rng() % n; };
  const std::size_t rounds = 1 + below(2);
  for (std::size_t r = 0; r < rounds; ++r) {
    const std::size_t pos = below(s.size() + 1);
    switch (below(7)) {
      case 0:
        if (!s.empty()) s[below(s.size())] ^= static_cast<char>(1u << below(8));
        break;
      case 1:
        if (!s.empty()) s[below(s.size())] = static_cast<char>(below(256));
        break;
      case 2:
      case 3:
        s.insert(pos, inserts[below(inserts.size())]);
        break;
      case 4:
        if (!s.empty()) s.erase(below(s.size()), 1 + below(3));
        break;
      case 5:
        if (below(4) == 0) s.resize(pos);
        break;
      case 6: {
        const std::size_t from = below(s.size() + 1);
        const std::size_t n = below(40);
        s.insert(pos, s.substr(from, n));
        break;
      }
    }
  }
  return s;
}

TEST(OpenAiAnswerScan, FastPathAgreesWithTheSaxScanOnMutatedAnswers) {
  std::mt19937 rng(0x5eed'0b21);
  std::vector<std::string> seeds;
  for (const std::string& body : corpus()) {
    if (body.size() <= 12000) seeds.push_back(body);
  }
  FastTally tally;
  std::size_t failures = 0;
  const std::size_t cases = 40000;
  for (std::size_t i = 0; i < cases; ++i) {
    const std::string input = mutate(seeds[rng() % seeds.size()], rng);
    if (const std::string why = checkAnswerScans(input, &tally); !why.empty() && ++failures <= 10) {
      ADD_FAILURE() << "case " << i << ": " << why << "\n  input: " << input.substr(0, 400);
    }
  }
  EXPECT_EQ(failures, 0u) << "of " << cases;
  // Enough of them must stay answers the fast path reads for its walk to be compared.
  EXPECT_GT(tally.answers, cases / 10)
      << tally.give_ups << " give-ups, " << tally.not_read << " left to the SAX scan";
  std::printf("[          ] %zu mutated answers: fast path read %zu, gave up on %zu, left %zu\n",
              cases, tally.answers, tally.give_ups, tally.not_read);
}

TEST(OpenAiAnswerScan, PlainScanAgreesWithTheSaxScanOnMutatedAnswers) {
  std::mt19937 rng(0x91a1'0b21);
  std::vector<std::string> seeds;
  for (const std::string& body : plainCorpus()) {
    if (body.size() <= 12000) seeds.push_back(body);
  }
  FastTally tally;
  std::size_t failures = 0;
  const std::size_t cases = 40000;
  for (std::size_t i = 0; i < cases; ++i) {
    std::string input = mutate(seeds[rng() % seeds.size()], rng);
    if (rng() % 2 == 0) std::erase(input, '\\');  // most mutations stay plain
    for (const bool stream : {false, true}) {
      if (const std::string why = testing::checkPlainScan(input, stream, stream ? nullptr : &tally);
          !why.empty() && ++failures <= 10) {
        ADD_FAILURE() << "case " << i << ": " << why << "\n  input: " << input.substr(0, 400);
      }
    }
  }
  EXPECT_EQ(failures, 0u) << "of " << cases;
  EXPECT_GT(tally.answers, cases / 10)
      << tally.give_ups << " give-ups, " << tally.not_read << " left to the SAX scan";
  std::printf(
      "[          ] %zu mutated plain answers: plain scan read %zu, gave up on %zu, left %zu\n",
      cases, tally.answers, tally.give_ups, tally.not_read);
}

TEST(OpenAiAnswerScan, OnlyAnswersWithAnEscapeUpToTheLimitTakeTheFastPath) {
  // Larger than the limit: left to the SAX scan, whose answer scanOpenAi() gives.
  const std::string large = corpus()[6];
  ASSERT_GT(large.size(), kOpenAiAnswerFastBytes);
  OpenAiAnswer out;
  EXPECT_EQ(scanOpenAiAnswerFast(large, out), FastScan::NotRead);
  OpenAiAnswer sax;
  ASSERT_TRUE(scanOpenAiSax(large, false, sax));
  ASSERT_TRUE(scanOpenAi(large, false, out));
  EXPECT_TRUE(testing::sameAnswer(out, sax));
  // The limit itself is read.
  const std::string at_limit = corpus()[5];
  ASSERT_LE(at_limit.size(), kOpenAiAnswerFastBytes);
  EXPECT_EQ(scanOpenAiAnswerFast(at_limit, out), FastScan::Answer);
  // Whatever path: scanOpenAi() is the SAX scan's answer for every corpus body, and a stream
  // chunk (with a `delta`) never takes the fast path.
  for (const std::string& body : corpus()) {
    OpenAiAnswer a;
    OpenAiAnswer b;
    const bool got = scanOpenAi(body, false, a);
    const bool want = scanOpenAiSax(body, false, b);
    EXPECT_EQ(got, want) << body.substr(0, 300);
    if (got && want) {
      EXPECT_TRUE(testing::sameAnswer(a, b)) << body.substr(0, 300);
    }
    const bool chunk = scanOpenAi(body, true, a);
    const bool chunk_sax = scanOpenAiSax(body, true, b);
    EXPECT_EQ(chunk, chunk_sax) << body.substr(0, 300);
    if (chunk && chunk_sax) {
      EXPECT_TRUE(testing::sameAnswer(a, b)) << body.substr(0, 300);
    }
  }
}

// The whole chain on escaped answers: the scan (fast path) against the extractor's document path.
TEST(OpenAiAnswerScan, EscapedAnswersMatchTheDocumentPath) {
  RequestInfo chat;
  chat.kind = EndpointKind::ChatCompletions;
  chat.request_body_bytes = 400;
  for (const std::string& body : corpus()) {
    UsageResult results[2];
    for (const bool document_only : {false, true}) {
      UsageExtractor::Limits limits;
      limits.document_only = document_only;
      UsageExtractor extractor(chat, 200, "application/json", limits);
      results[document_only] = extractor.finish(body);
    }
    EXPECT_EQ(results[0].usage, results[1].usage) << body.substr(0, 300);
    EXPECT_EQ(results[0].status, results[1].status) << body.substr(0, 300);
    EXPECT_EQ(results[0].estimated, results[1].estimated) << body.substr(0, 300);
    EXPECT_EQ(results[0].detail, results[1].detail) << body.substr(0, 300);
  }
}

}  // namespace
}  // namespace spendgate::core
