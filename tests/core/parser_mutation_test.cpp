// Differential mutation test of the two one-pass (SAX) readers against the document view they
// replaced:
// - classifyRequest() reads the client's request body; the reference (reference_body_view.hpp)
//   is the document-based classifier it replaced (boost::json::parse + json_fields).
// - UsageExtractor reads a non-streamed OpenAI-shaped answer; Limits::document_only is the
//   document path.
// Seed bodies (requests of every API, answers with and without usage, errors) are mutated with a
// fixed-seed generator (byte flips, truncations, structural characters, duplicate keys, deep
// nesting at the depth limits, huge numbers, invalid UTF-8, NUL bytes, escaped keys, non-object
// roots), every truncation of every seed is tried, and a grid puts every key that matters with
// every kind of value (alone, duplicated, escaped) into every container the readers look into.
// Every result field of the two paths must agree: no divergence is expected, so none is skipped.
// Every input also goes through the answer scan's fast path (simdjson), whatever its escapes,
// against the SAX scan (tests/core/openai_answer_scan_check.hpp).
// The same bodies also go as SSE chunk events through the OpenAI-shaped stream readers, whose
// chunk scan is compared with the document path in the same way.
// Nothing may crash either: build with -fsanitize=address,undefined for the real value of this
// test (the same bodies also go through the other SSE and JSON-array stream readers, crash-only).
// About 0.4 s in a RelWithDebInfo build.
//
// SPENDGATE_MUTATION_CASES=<n> raises the number of mutated inputs for a long local run, and
// SPENDGATE_MUTATION_SEED=<n> picks another sequence.

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <boost/json/parse.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/metering/request_classifier.hpp"
#include "core/usage/json_fields.hpp"
#include "core/usage/usage_extractor.hpp"
#include "tests/core/openai_answer_scan_check.hpp"
#include "tests/core/reference_body_view.hpp"

namespace spendgate::core {
namespace {

using testing::BodyView;
using testing::referenceBody;

constexpr std::size_t kDefaultCases = 12000;
constexpr std::uint32_t kSeed = 0x5eed'2026;
constexpr std::size_t kMaxReportedFailures = 20;

/** SPENDGATE_MUTATION_SEED=<n> explores another sequence locally; the test itself uses kSeed. */
std::uint32_t seed() {
  if (const char* env = std::getenv("SPENDGATE_MUTATION_SEED")) {
    return static_cast<std::uint32_t>(std::strtoul(env, nullptr, 0));
  }
  return kSeed;
}

std::size_t caseCount() {
  if (const char* env = std::getenv("SPENDGATE_MUTATION_CASES")) {
    const long long n = std::atoll(env);
    if (n > 0) return static_cast<std::size_t>(n);
  }
  return kDefaultCases;
}

/** The input, printable: non-ASCII and control bytes as \xNN; long inputs shortened. */
std::string printable(std::string_view s) {
  std::string out;
  const std::size_t limit = 600;
  for (std::size_t i = 0; i < s.size() && i < limit; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    }
  }
  if (s.size() > limit) out += "... (" + std::to_string(s.size()) + " bytes)";
  return out;
}

// ---- Seeds ------------------------------------------------------------------------------------

const std::vector<std::string>& requestSeeds() {
  static const std::vector<std::string> all = {
      R"({"model":"gpt-4o-mini","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"hi"}]})",
      R"({"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hello"}]})",
      R"({"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"max_tokens":256,"n":2,"messages":[]})",
      R"({"model":"o3-mini","max_completion_tokens":4096,"service_tier":"flex","reasoning_effort":"high","messages":[{"role":"user","content":"x"}]})",
      R"({"model":"gpt-4o","tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"max_tokens":{"type":"integer"}}}}}],"tool_choice":"auto","temperature":0.2,"max_tokens":100})",
      R"({"model":"gpt-3.5-turbo-instruct","prompt":"Say this is a test","max_tokens":7,"stream":false,"n":3})",
      R"({"model":"gpt-3.5-turbo-instruct","prompt":"x","max_tokens":50,"n":2,"best_of":5})",
      R"({"model":"claude-sonnet-4-5","max_tokens":1024,"stream":true,"system":"s","messages":[{"role":"user","content":[{"type":"text","text":"Hello"}]}]})",
      R"({"contents":[{"role":"user","parts":[{"text":"Write a story"}]}],"generationConfig":{"maxOutputTokens":800,"candidateCount":2,"temperature":1.0}})",
      R"({"contents":[{"parts":[{"text":"Hi"}]}],"system_instruction":{"parts":[{"text":"s"}]},"generation_config":{"max_output_tokens":400,"candidate_count":2},"generationConfig":{"candidate_count":3}})",
      R"({"input":["first","second"],"model":"text-embedding-3-small","encoding_format":"float"})",
      R"({"model":"gpt-4.1","input":"Tell me a joke","max_output_tokens":500,"stream":true,"service_tier":"priority"})",
      R"({"model":"m","stream":true,"stream_options":{"include_usage":false},"max_tokens":-1,"max_output_tokens":7})",
      R"({"model":"caf\u00e9","service_tier":"d\u0065fault","max_tokens":1e3,"n":2.0})",
  };
  return all;
}

const std::vector<std::string>& answerSeeds() {
  static const std::vector<std::string> all = {
      R"({"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"Hello!"},"finish_reason":"stop"}],"usage":{"prompt_tokens":20,"completion_tokens":10,"total_tokens":30}})",
      R"({"model":"gpt-4o","service_tier":"default","usage":{"prompt_tokens":1486,"completion_tokens":651,"total_tokens":2137,"prompt_tokens_details":{"cached_tokens":1408,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":512,"audio_tokens":0}},"choices":[{"message":{"content":"caf\u00e9 ok","refusal":null}}]})",
      R"({"model":"o1","choices":[{"message":{"content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"city\":\"Paris\"}"}}],"function_call":{"name":"g","arguments":"{}"}}}],"usage":{"prompt_tokens":9,"completion_tokens":4}})",
      R"({"id":"cmpl-1","object":"text_completion","model":"gpt-3.5-turbo-instruct","choices":[{"text":"legacy text","index":0},{"text":"second"}],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}})",
      R"({"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.0023,-0.009,1e-5]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}})",
      R"({"id":"resp_1","object":"response","model":"gpt-4.1-2025-04-14","service_tier":"flex","output":[{"type":"message","content":[{"type":"output_text","text":"hi"}]}],"usage":{"input_tokens":36,"input_tokens_details":{"cached_tokens":4},"output_tokens":87,"output_tokens_details":{"reasoning_tokens":12},"total_tokens":123},"error":null})",
      R"({"choices":[{"message":{"role":"assistant","content":"thinking done","reasoning_content":"hmm"}}],"model":"gemini-2.5-flash","usage":{"completion_tokens":5,"prompt_tokens":10,"total_tokens":40}})",
      R"({"error":{"message":"The server had an error","type":"server_error","param":null,"code":null}})",
      R"([{"error":{"code":429,"message":"Resource exhausted","status":"RESOURCE_EXHAUSTED"}}])",
      R"({"candidates":[{"content":{"parts":[{"text":"Hi"}],"role":"model"},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":2,"totalTokenCount":9,"thoughtsTokenCount":3},"modelVersion":"gemini-2.5-flash"})",
      R"({"id":"msg_1","type":"message","model":"claude-sonnet-4-5","content":[{"type":"text","text":"Hi"}],"usage":{"input_tokens":10,"cache_read_input_tokens":5,"output_tokens":3}})",
      R"({"usage":{"input_tokens":7,"prompt_tokens":3,"completion_tokens":2},"choices":[{"delta":{"content":"x"}}]})",
      // Streamed chunks (read by the chunk scan when they come as SSE events).
      R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","system_fingerprint":"fp","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi é","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null})",
      R"({"choices":[{"index":0,"delta":{"reasoning_content":"r","tool_calls":[{"index":0,"function":{"name":"f","arguments":"{"a":"}}],"function_call":{"arguments":"1"}},"text":"t"}],"model":"m","service_tier":"flex"})",
      R"({"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"prompt_index":0,"content_filter_results":{"hate":{"filtered":false,"severity":"safe"}}}]})",
      R"({"choices":[{"delta":{"content":" the capital.","role":"assistant"},"finish_reason":"stop","index":0}],"model":"gemini-2.5-flash","usage":{"completion_tokens":102,"prompt_tokens":758,"total_tokens":1725}})",
      R"({"choices":[],"usage":{"prompt_tokens":20,"completion_tokens":10,"total_tokens":30,"prompt_tokens_details":{"cached_tokens":8},"completion_tokens_details":{"reasoning_tokens":4}}})",
  };
  return all;
}

// ---- Mutations --------------------------------------------------------------------------------

/** Keys either reader looks at, and one that neither does. */
const std::vector<std::string>& interestingKeys() {
  static const std::vector<std::string> all = {"model",
                                               "stream",
                                               "stream_options",
                                               "include_usage",
                                               "max_tokens",
                                               "max_completion_tokens",
                                               "max_output_tokens",
                                               "n",
                                               "best_of",
                                               "service_tier",
                                               "generationConfig",
                                               "maxOutputTokens",
                                               "candidateCount",
                                               "generation_config",
                                               "candidate_count",
                                               "error",
                                               "usage",
                                               "choices",
                                               "message",
                                               "delta",
                                               "text",
                                               "content",
                                               "reasoning_content",
                                               "reasoning",
                                               "refusal",
                                               "tool_calls",
                                               "function_call",
                                               "function",
                                               "arguments",
                                               "prompt_tokens",
                                               "completion_tokens",
                                               "total_tokens",
                                               "input_tokens",
                                               "output_tokens",
                                               "prompt_tokens_details",
                                               "completion_tokens_details",
                                               "input_tokens_details",
                                               "output_tokens_details",
                                               "cached_tokens",
                                               "reasoning_tokens",
                                               "x"};
  return all;
}

/** Values of every type, the numbers at the edges of int64/uint64/double and the sanity cap. */
const std::vector<std::string>& interestingValues() {
  static const std::vector<std::string> all = {"null",
                                               "true",
                                               "false",
                                               "0",
                                               "-0",
                                               "-0.0",
                                               "1",
                                               "-1",
                                               "7",
                                               "2.0",
                                               "2.5",
                                               "1e3",
                                               "1e400",
                                               "-1e400",
                                               "1E-400",
                                               "18446744073709551616",
                                               "18446744073709551615",
                                               "9223372036854775808",
                                               "9223372036854775807",
                                               "-9223372036854775808",
                                               "-9223372036854775809",
                                               "1000000000",
                                               "1000000001",
                                               "8999999999999999000.0",
                                               "9.0e18",
                                               "123456789012345678901234567890",
                                               "\"\"",
                                               "\"x\"",
                                               "\"gpt-4o\"",
                                               "\"\\u0000\"",
                                               "\"\\ud800\"",
                                               "{}",
                                               "[]",
                                               "[1]",
                                               "{\"include_usage\":true}",
                                               "{\"cached_tokens\":5}",
                                               "{\"reasoning_tokens\":3}",
                                               "{\"prompt_tokens\":4}",
                                               "{\"content\":\"abc\"}",
                                               "[{\"message\":{\"content\":\"y\"}}]",
                                               "{\"maxOutputTokens\":9,\"candidateCount\":3}",
                                               "{\"max_output_tokens\":8,\"candidate_count\":2}",
                                               "{\"type\":\"t\",\"code\":5}"};
  return all;
}

class Mutator {
public:
  explicit Mutator(std::uint32_t seed) : rng_(seed) {}

  std::size_t below(std::size_t n) { return n == 0 ? 0 : rng_() % n; }
  bool chance(unsigned percent) { return rng_() % 100 < percent; }

  template <typename T>
  const T& pick(const std::vector<T>& items) {
    return items[below(items.size())];
  }

  std::string mutate(std::string s) {
    const std::size_t rounds = 1 + below(3) / 2;  // one mutation, sometimes two
    for (std::size_t r = 0; r < rounds; ++r) s = mutateOnce(std::move(s));
    return s;
  }

private:
  /** The nesting depth (objects and arrays, outside strings) just before `pos`. */
  static int depthAt(std::string_view s, std::size_t pos) {
    int depth = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < pos && i < s.size(); ++i) {
      const char c = s[i];
      if (in_string) {
        if (c == '\\') {
          ++i;
        } else if (c == '"') {
          in_string = false;
        }
      } else if (c == '"') {
        in_string = true;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        --depth;
      }
    }
    return depth;
  }

  /** Positions of `c` in s. */
  static std::vector<std::size_t> positions(std::string_view s, char c) {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s[i] == c) out.push_back(i);
    }
    return out;
  }

  /** Start offsets of keys ('"' followed later by '":'). */
  static std::vector<std::pair<std::size_t, std::size_t>> keySpans(std::string_view s) {
    std::vector<std::pair<std::size_t, std::size_t>> out;
    for (std::size_t i = 0; i + 1 < s.size(); ++i) {
      if (s[i] != '"' || s[i + 1] != ':') continue;
      // find the opening quote (no escapes in seed keys)
      const auto open = s.rfind('"', i == 0 ? 0 : i - 1);
      if (open == std::string_view::npos || open + 1 >= i) continue;
      out.emplace_back(open + 1, i);  // [begin, end) of the key text
    }
    return out;
  }

  std::string nested(int depth, std::string_view inner) {
    std::string out;
    const bool objects = chance(30);
    for (int i = 0; i < depth; ++i) out += objects ? "{\"a\":" : "[";
    out += inner;
    for (int i = 0; i < depth; ++i) out += objects ? "}" : "]";
    return out;
  }

  std::string mutateOnce(std::string s) {
    static const std::string kStructural = "{}[]\",:\\0123456789";
    static const std::vector<std::string> kBadUtf8 = {"\xff",
                                                      "\xfe",
                                                      "\xc3",
                                                      "\xc0\xaf",
                                                      "\xe0\x80\xaf",
                                                      "\xed\xa0\x80",
                                                      "\xf4\x90\x80\x80",
                                                      "\xf8\x88\x80\x80\x80",
                                                      "\x80",
                                                      "\xe2\x82",
                                                      "\xf0\x9f\x98"};
    static const std::vector<std::string> kRoots = {"[]", "null",  "1",    "\"s\"", "true",
                                                    "-0", "1e400", "[{}]", " ",     ""};
    const std::size_t pos = below(s.size() + 1);
    // Half of the mutations keep the body valid JSON (members, keys, values, nesting), so that
    // the scans get past the syntax and their field logic is what is compared.
    static constexpr std::array<std::size_t, 7> kKeepsSyntax = {5, 6, 7, 8, 12, 13, 16};
    const std::size_t op = chance(55) ? kKeepsSyntax[below(kKeepsSyntax.size())] : below(17);
    switch (op) {
      case 0:  // flip one bit
        if (!s.empty()) s[below(s.size())] ^= static_cast<char>(1u << below(8));
        return s;
      case 1:  // replace a byte with any byte
        if (!s.empty()) s[below(s.size())] = static_cast<char>(below(256));
        return s;
      case 2:  // truncate
        s.resize(pos);
        return s;
      case 3:  // insert a structural character or digit
        s.insert(pos, 1, kStructural[below(kStructural.size())]);
        return s;
      case 4: {  // delete a structural character (or any byte)
        std::vector<std::size_t> at;
        for (std::size_t i = 0; i < s.size(); ++i) {
          if (kStructural.find(s[i]) != std::string::npos) at.push_back(i);
        }
        if (!at.empty()) {
          s.erase(pick(at), 1);
        } else if (!s.empty()) {
          s.erase(below(s.size()), 1);
        }
        return s;
      }
      case 5:    // a member (often a duplicate) added at the start of an object
      case 6: {  // ... or at its end
        const bool at_end = op == 6;
        const std::string member =
            "\"" + pick(interestingKeys()) + "\":" + pick(interestingValues());
        const auto braces = positions(s, at_end ? '}' : '{');
        if (braces.empty()) return s;
        const std::size_t b = pick(braces);
        if (at_end) {
          const bool empty = b > 0 && s[b - 1] == '{';
          s.insert(b, (empty ? "" : ",") + member);
        } else {
          const bool empty = b + 1 < s.size() && s[b + 1] == '}';
          s.insert(b + 1, member + (empty ? "" : ","));
        }
        return s;
      }
      case 7: {  // replace a number with an interesting one
        std::vector<std::size_t> starts;
        for (std::size_t i = 0; i < s.size(); ++i) {
          const bool digit = (s[i] >= '0' && s[i] <= '9') || s[i] == '-';
          const bool after_digit =
              i > 0 && ((s[i - 1] >= '0' && s[i - 1] <= '9') || s[i - 1] == '-' || s[i - 1] == '.');
          if (digit && !after_digit) starts.push_back(i);
        }
        if (starts.empty()) return s;
        const std::size_t b = pick(starts);
        std::size_t e = b;
        while (e < s.size() &&
               std::string_view("0123456789-+.eE").find(s[e]) != std::string::npos) {
          ++e;
        }
        s.replace(b, e - b, pick(interestingValues()));
        return s;
      }
      case 8: {  // deep nesting around a value, just around the depth limits
        const auto colons = positions(s, ':');
        const std::size_t at = colons.empty() ? 0 : pick(colons) + 1;
        const int here = depthAt(s, at);
        const int limit = chance(50) ? 64 : static_cast<int>(kRequestBodyMaxDepth);
        const int depth = std::max(0, limit - here + static_cast<int>(below(4)) - 1);
        std::string inner = pick(interestingValues());
        // the nested value replaces nothing: it is inserted before the existing one as a member
        // value when at a ':' (making the old value trailing garbage half the time)
        if (colons.empty() || chance(25)) {
          return nested(depth, s.empty() ? inner : s);  // wrap the whole body: a non-object root
        }
        std::size_t e = at;
        int d = 0;
        bool in_string = false;
        for (; e < s.size(); ++e) {  // skip the old value
          const char c = s[e];
          if (in_string) {
            if (c == '\\') {
              ++e;
            } else if (c == '"') {
              in_string = false;
            }
            continue;
          }
          if (c == '"') {
            in_string = true;
          } else if (c == '{' || c == '[') {
            ++d;
          } else if (c == '}' || c == ']') {
            if (d == 0) break;
            --d;
          } else if (c == ',' && d == 0) {
            break;
          }
        }
        s.replace(at, e - at, nested(depth, inner));
        return s;
      }
      case 9:  // invalid UTF-8 somewhere (often inside a string)
        s.insert(pos, pick(kBadUtf8));
        return s;
      case 10:  // NUL bytes
        s.insert(pos, 1, '\0');
        return s;
      case 11:  // a non-object root
        if (chance(50)) return pick(kRoots);
        return "[" + s + "]";
      case 12: {  // a key character written as a \u escape (the key arrives in pieces)
        const auto spans = keySpans(s);
        if (spans.empty()) return s;
        const auto [b, e] = spans[below(spans.size())];
        const std::size_t at = b + below(e - b);
        char buf[8];
        std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned char>(s[at]));
        std::string esc = buf;
        if (chance(10)) esc = "\\" + std::string(1, s[at]);  // invalid escape unless '"', '\\', '/'
        s.replace(at, 1, esc);
        return s;
      }
      case 13: {  // a string value with escapes / long text / a long key
        static const std::vector<std::string> kStrings = {"\"\\u00e9\\ud83d\\ude00\"",
                                                          "\"\\n\\t\\\"\\\\\\/\"",
                                                          "\"\\ud83d\"",
                                                          "\"\\udc00\\ud800\"",
                                                          "\"" + std::string(300, 'y') + "\"",
                                                          "\"\\u0000x\"",
                                                          "\"caf\xc3\xa9\"",
                                                          "\"\\u006dodel\""};
        const std::string& v = pick(kStrings);
        const auto spans = keySpans(s);
        if (!spans.empty() && chance(50)) {  // replace a key
          const auto [b, e] = spans[below(spans.size())];
          s.replace(b - 1, e - b + 2, v);
          return s;
        }
        const auto colons = positions(s, ':');
        if (colons.empty()) return s;
        s.insert(pick(colons) + 1, v + (chance(50) ? "," : ""));
        return s;
      }
      case 14: {  // splice: a prefix of this body and a suffix of a seed
        const auto& seeds = chance(50) ? requestSeeds() : answerSeeds();
        const std::string& other = pick(seeds);
        s.resize(pos);
        s += other.substr(below(other.size() + 1));
        return s;
      }
      case 15: {  // whitespace and comments (comments are not allowed)
        static const std::vector<std::string> kSpace = {" ",  "\t",      "\n",     "\r",      "\f",
                                                        "\v", "/* c */", "// c\n", "\xc2\xa0"};
        s.insert(pos, pick(kSpace));
        return s;
      }
      default: {  // swap a key for an interesting one
        const auto spans = keySpans(s);
        if (spans.empty()) return s;
        const auto [b, e] = spans[below(spans.size())];
        s.replace(b, e - b, pick(interestingKeys()));
        return s;
      }
    }
  }

  std::mt19937 rng_;
};

// ---- classifyRequest against the document view -------------------------------------------------

struct Route {
  ProviderFormat format;
  const char* path;
};

constexpr std::array kRoutes = {
    Route{ProviderFormat::OpenAI, "/v1/chat/completions"},
    Route{ProviderFormat::OpenAI, "/v1/completions"},
    Route{ProviderFormat::OpenAI, "/v1/embeddings"},
    Route{ProviderFormat::OpenAI, "/v1/responses"},
    Route{ProviderFormat::OpenAI, "/v1/models"},
    Route{ProviderFormat::Anthropic, "/v1/messages"},
    Route{ProviderFormat::Gemini, "/v1beta/models/gemini-2.5-flash:generateContent"},
    Route{ProviderFormat::Gemini, "/v1beta/models/gemini-2.5-flash:streamGenerateContent"},
    Route{ProviderFormat::Gemini, "/v1beta/openai/chat/completions"},
    Route{ProviderFormat::Azure, "/openai/deployments/prod/chat/completions"},
    Route{ProviderFormat::Azure, "/openai/deployments/unmapped/completions"},
};

/** @return "" when the classifier agrees with the document view on every route, else why not. */
std::string checkClassifier(const std::string& body, bool all_routes = true) {
  static const DeploymentMap kDeployments = {{"prod", "gpt-4o"}};
  // An Azure classic stream gets include_usage only at an api-version that takes it.
  static constexpr std::string_view kQuery = "api-version=2024-10-21";
  const BodyView want_other = referenceBody(body);
  const BodyView want_gemini = referenceBody(body, true);
  std::string why;
  for (const Route& route : kRoutes) {
    // Gemini reads its counts as proto3 JSON, where a string may hold one.
    const bool proto_json = route.format == ProviderFormat::Gemini &&
                            std::string_view(route.path).find("/openai/") == std::string_view::npos;
    const BodyView& want = proto_json ? want_gemini : want_other;
    const RequestInfo got = classifyRequest(route.format, route.path, kQuery, body, kDeployments);
    // The path-derived fields do not depend on the body.
    const RequestInfo bare = classifyRequest(route.format, route.path, kQuery, "", kDeployments);
    std::string model = want.model;
    if (route.format == ProviderFormat::Gemini && bare.kind != EndpointKind::ChatCompletions) {
      model = "gemini-2.5-flash";
    } else if (bare.gemini_compat && model.starts_with("models/")) {
      model.erase(0, 7);  // as a native path names it
    }
    if (!bare.azure_deployment.empty()) {
      if (bare.azure_deployment == "prod") {
        model = "gpt-4o";
      } else if (model.empty()) {
        model = bare.azure_deployment;
      }
    }
    const bool stream = want.stream || bare.kind == EndpointKind::GeminiStreamGenerateContent;
    const bool injection =
        (bare.kind == EndpointKind::ChatCompletions || bare.kind == EndpointKind::Completions) &&
        stream && !want.include_usage && want.body_is_json;
    auto expect = [&](bool same, const char* field) {
      if (!same) why += std::string(route.path) + ": " + field + " differs; ";
    };
    expect(got.format == bare.format, "format");
    expect(got.kind == bare.kind, "kind");
    expect(got.azure_deployment == bare.azure_deployment, "azure_deployment");
    expect(got.gemini_compat == bare.gemini_compat, "gemini_compat");
    expect(got.request_body_bytes == static_cast<std::int64_t>(body.size()), "request_body_bytes");
    expect(got.body_is_json == want.body_is_json, "body_is_json");
    expect(got.requested_model == model, "requested_model");
    expect(got.stream == stream, "stream");
    expect(got.background == want.background, "background");
    expect(got.include_usage_requested == want.include_usage, "include_usage_requested");
    expect(got.service_tier == want.service_tier, "service_tier");
    expect(got.max_output_tokens == want.max_output_tokens, "max_output_tokens");
    expect(got.choices == want.choices, "choices");
    expect(got.needs_usage_injection == injection, "needs_usage_injection");
    if (!why.empty() || !all_routes) break;
  }
  return why;
}

/**
 * The path is client input too: a mutated path with every format must not crash, and what the
 * body says must not depend on it (the model aside, which a path may name).
 */
std::string checkMutatedPath(Mutator& mutator, const std::string& body) {
  static const std::vector<std::string> kPaths = {
      "/v1/chat/completions?x=1",
      "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
      "/openai/deployments/d/chat/completions/",
      "/v1beta/openai/completions",
      "",
      "/",
      "///",
      ":",
      "models/:generateContent",
      "/openai/deployments/",
      "/v1/messages?"};
  const std::string path = mutator.mutate(mutator.pick(kPaths));
  for (const ProviderFormat format : {ProviderFormat::OpenAI, ProviderFormat::Azure,
                                      ProviderFormat::Anthropic, ProviderFormat::Gemini}) {
    const RequestInfo got = classifyRequest(format, path, "alt=sse", body);
    const RequestInfo bare = classifyRequest(format, path, "", "");
    const BodyView want =
        referenceBody(body, format == ProviderFormat::Gemini && !bare.gemini_compat);
    const bool same =
        got.kind == bare.kind && got.body_is_json == want.body_is_json &&
        got.stream == (want.stream || bare.stream) && got.background == want.background &&
        got.include_usage_requested == want.include_usage &&
        got.service_tier == want.service_tier && got.max_output_tokens == want.max_output_tokens &&
        got.choices == want.choices;
    if (!same) return "differs for path '" + printable(path) + "'";
  }
  return {};
}

// ---- UsageExtractor: the one-pass scan against document_only -----------------------------------

struct Extracted {
  UsageResult result;
  std::optional<Usage> so_far;
};

Extracted extract(const RequestInfo& info,
                  std::string_view content_type,
                  std::string_view body,
                  std::size_t cut,
                  bool document_only) {
  UsageExtractor::Limits limits;
  limits.document_only = document_only;
  UsageExtractor extractor(info, 200, content_type, limits);
  extractor.feed(body.substr(0, cut));
  extractor.feed(body.substr(cut));
  Extracted out;
  out.result = extractor.finish();
  out.so_far = extractor.reportedSoFar();
  return out;
}

RequestInfo answerContext(EndpointKind kind, ProviderFormat format, bool gemini_compat) {
  RequestInfo info;
  info.kind = kind;
  info.format = format;
  info.gemini_compat = gemini_compat;
  info.request_body_bytes = 321;
  return info;
}

const std::vector<RequestInfo>& answerContexts() {
  static const std::vector<RequestInfo> all = {
      answerContext(EndpointKind::ChatCompletions, ProviderFormat::OpenAI, false),
      answerContext(EndpointKind::ChatCompletions, ProviderFormat::Gemini, true),
      answerContext(EndpointKind::Completions, ProviderFormat::OpenAI, false),
      answerContext(EndpointKind::Embeddings, ProviderFormat::Azure, false),
      answerContext(EndpointKind::Responses, ProviderFormat::OpenAI, false),
      answerContext(EndpointKind::AnthropicMessages, ProviderFormat::Anthropic, false),
      answerContext(EndpointKind::GeminiGenerateContent, ProviderFormat::Gemini, false),
  };
  return all;
}

std::string describe(const Extracted& e) {
  const Usage& u = e.result.usage;
  std::string s = "status=" + std::string(usageStatusName(e.result.status)) +
                  " estimated=" + std::to_string(e.result.estimated) +
                  " upstream_error=" + std::to_string(e.result.upstream_error) + " detail='" +
                  e.result.detail + "' in=" + std::to_string(u.input_tokens) +
                  " cached=" + std::to_string(u.cached_input_tokens) +
                  " out=" + std::to_string(u.output_tokens) +
                  " reasoning=" + std::to_string(u.reasoning_tokens) + " model='" + u.model +
                  "' tier='" + u.service_tier + "' reported=" + std::to_string(u.reported);
  s += e.so_far ? " so_far=set" : " so_far=none";
  return s;
}

/** @return "" when the scan and the document path agree on every context, else why not. */
std::string checkUsage(const std::string& body, std::size_t cut, bool all_contexts = true) {
  // The first two contexts (chat, Gemini-compat chat) cover the scan's rules; the others add
  // the other scanned kinds and the document-only kinds (which must merely not crash).
  const std::size_t contexts = all_contexts ? answerContexts().size() : 2;
  for (std::size_t c = 0; c < contexts; ++c) {
    const RequestInfo& info = answerContexts()[c];
    const Extracted want = extract(info, "application/json", body, cut, true);
    const Extracted got = extract(info, "application/json", body, cut, false);
    // Every field UsageResult exposes, and the running counts.
    const bool same = got.result.usage == want.result.usage &&
                      got.result.status == want.result.status &&
                      got.result.estimated == want.result.estimated &&
                      got.result.upstream_error == want.result.upstream_error &&
                      got.result.detail == want.result.detail && got.so_far == want.so_far;
    if (!same) {
      return std::string(endpointKindName(info.kind)) +
             (info.gemini_compat ? " (gemini compat)" : "") + ": scan {" + describe(got) +
             "} document {" + describe(want) + "}";
    }
  }
  return {};
}

/**
 * The same body as SSE chunk events: on the OpenAI-shaped contexts (the first four) the chunk scan
 * against the document path, once without an end marker and twice with one.
 * @return "" when they agree, else why not.
 */
std::string checkStream(const std::string& body, std::size_t cut) {
  const std::string once = "data: " + body + "\n\n";
  const std::string twice = once + once + "data: [DONE]\n\n";
  for (std::size_t c = 0; c < 4; ++c) {
    const RequestInfo& info = answerContexts()[c];
    for (const std::string* sse : {&once, &twice}) {
      const std::size_t at = std::min(cut, sse->size());
      const Extracted want = extract(info, "text/event-stream", *sse, at, true);
      const Extracted got = extract(info, "text/event-stream", *sse, at, false);
      const bool same = got.result.usage == want.result.usage &&
                        got.result.status == want.result.status &&
                        got.result.estimated == want.result.estimated &&
                        got.result.upstream_error == want.result.upstream_error &&
                        got.result.detail == want.result.detail && got.so_far == want.so_far;
      if (!same) {
        return std::string(endpointKindName(info.kind)) +
               (info.gemini_compat ? " (gemini compat)" : "") +
               (sse == &once ? " one event" : " two events") + ": scan {" + describe(got) +
               "} document {" + describe(want) + "}";
      }
    }
  }
  return {};
}

/** The same body as one SSE event and as a Gemini JSON-array stream: only must not crash. */
void streamShapes(const std::string& body) {
  const std::string sse = "data: " + body + "\n\ndata: [DONE]\n\n";
  for (const RequestInfo& info : answerContexts()) {
    UsageExtractor extractor(info, 200, "text/event-stream");
    extractor.feed(sse);
    (void)extractor.finish();
  }
  RequestInfo array =
      answerContext(EndpointKind::GeminiStreamGenerateContent, ProviderFormat::Gemini, false);
  UsageExtractor extractor(array, 200, "application/json");
  extractor.feed("[" + body);
  extractor.feed("," + body + "]");
  (void)extractor.finish();
}

// ---- The runs ---------------------------------------------------------------------------------

struct Failures {
  std::size_t count = 0;

  void add(const char* what, std::size_t index, const std::string& input, const std::string& why) {
    ++count;
    if (count <= kMaxReportedFailures) {
      ADD_FAILURE() << what << " case " << index << ": " << why
                    << "\n  input: " << printable(input);
    }
  }
};

void checkOne(std::size_t index, const std::string& input, std::size_t cut, Failures& failures) {
  if (const std::string why = checkClassifier(input); !why.empty()) {
    failures.add("classifyRequest", index, input, why);
  }
  if (const std::string why = checkUsage(input, cut); !why.empty()) {
    failures.add("UsageExtractor", index, input, why);
  }
  if (const std::string why = checkStream(input, cut); !why.empty()) {
    failures.add("UsageExtractor (stream)", index, input, why);
  }
  if (const std::string why = testing::checkAnswerScans(input); !why.empty()) {
    failures.add("answer scan (simdjson)", index, input, why);
  }
}

TEST(ParserMutation, SeedsAgree) {
  Failures failures;
  std::size_t index = 0;
  for (const auto* seeds : {&requestSeeds(), &answerSeeds()}) {
    for (const std::string& seed : *seeds) {
      checkOne(index++, seed, seed.size() / 2, failures);
      streamShapes(seed);
    }
  }
  EXPECT_EQ(failures.count, 0u);
}

// Far past the depth limits (and unterminated): refused by both paths, without recursion.
TEST(ParserMutation, VeryDeepNestingAgrees) {
  Failures failures;
  std::size_t index = 0;
  for (const std::string& open : {std::string("["), std::string("{\"a\":"),
                                  std::string("{\"usage\":"), std::string("[{\"choices\":")}) {
    for (const bool closed : {false, true}) {
      std::string body;
      for (int i = 0; i < 50000; ++i) body += open;
      body += "1";
      if (closed) {
        for (int i = 0; i < 50000; ++i) body += open[0] == '[' && open.size() == 1 ? "]" : "}";
      }
      checkOne(index++, body, body.size() / 2, failures);
      streamShapes(body);
    }
  }
  EXPECT_EQ(failures.count, 0u);
}

TEST(ParserMutation, EveryTruncationAgrees) {
  Failures failures;
  std::size_t index = 0;
  for (const auto* seeds : {&requestSeeds(), &answerSeeds()}) {
    for (const std::string& seed : *seeds) {
      if (seed.size() > 600) continue;
      for (std::size_t n = 0; n < seed.size(); ++n) {
        checkOne(index++, seed.substr(0, n), n / 2, failures);
      }
    }
  }
  EXPECT_EQ(failures.count, 0u);
}

TEST(ParserMutation, MutatedBodiesAgree) {
  const std::size_t cases = caseCount();
  const std::uint32_t seed_value = seed();
  Mutator mutator(seed_value);
  std::vector<std::string> seeds = requestSeeds();
  seeds.insert(seeds.end(), answerSeeds().begin(), answerSeeds().end());
  Failures failures;
  std::size_t objects = 0;
  for (std::size_t i = 0; i < cases; ++i) {
    const std::string input = mutator.mutate(mutator.pick(seeds));
    const std::size_t cut = mutator.below(input.size() + 1);
    checkOne(i, input, cut, failures);
    if (i % 8 == 0) streamShapes(input);
    if (i % 4 == 0) {
      if (const std::string why = checkMutatedPath(mutator, input); !why.empty()) {
        failures.add("classifyRequest (mutated path)", i, input, why);
      }
    }
    if (referenceBody(input).body_is_json) ++objects;
  }
  EXPECT_EQ(failures.count, 0u) << "of " << cases << " mutated inputs (seed " << seed_value << ")";
  // The mutations must leave enough inputs valid for the scans to get past the syntax.
  EXPECT_GT(objects * 4, cases) << objects << " of " << cases << " inputs are JSON objects";
  std::printf("[          ] %zu mutated inputs, %zu of them JSON objects\n", cases, objects);
}

/** `{@}`-style templates: the member under test replaces '@'. */
const std::vector<std::string>& gridContexts() {
  static const std::vector<std::string> all = {
      R"({@})",
      R"({"model":"m","stream":true,@})",
      R"({"stream_options":{@},"stream":true})",
      R"({"generationConfig":{@}})",
      R"({"generation_config":{@},"generationConfig":{"maxOutputTokens":-1}})",
      R"({"messages":[{@}],"tools":{@}})",
      R"({"usage":{@}})",
      R"({"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":9,"prompt_tokens_details":{@},"completion_tokens_details":{@}}})",
      R"({"usage":{"input_tokens":3,"output_tokens":2,"input_tokens_details":{@},"output_tokens_details":{@}}})",
      R"({"choices":[{@},{"text":"t"}]})",
      R"({"choices":[{"message":{@}}],"usage":{"prompt_tokens":1}})",
      R"({"choices":[{"message":{"tool_calls":[{@},{"function":{@}}],"function_call":{@}}}]})",
      R"({"choices":[{"delta":{@}}],"usage":{"prompt_tokens":1}})",
      R"({"choices":[{"message":{"content":"mm"},@}]})",
      R"({"choices":[{@,"delta":{"content":"d"}}]})",
      R"({"choices":[{"delta":{"tool_calls":[{@},{"function":{@}}],"function_call":{@}}}]})",
  };
  return all;
}

std::string fill(const std::string& context, const std::string& member) {
  std::string out;
  for (const char c : context) {
    if (c == '@') {
      out += member;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

/** `key` with its character at `at` written as a \u escape (the parser hands it over in parts). */
std::string escapedKey(const std::string& key, std::size_t at) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned char>(key[at]));
  return key.substr(0, at) + buf + key.substr(at + 1);
}

// Every key that matters with every kind of value, alone and duplicated (both orders), and
// written with escapes, in every container either reader looks into.
TEST(ParserMutation, KeyValueGridAgrees) {
  const auto& keys = interestingKeys();
  const auto& values = interestingValues();
  Failures failures;
  std::size_t index = 0;
  auto check = [&](const std::string& body) {
    if (const std::string why = checkClassifier(body, false); !why.empty()) {
      failures.add("classifyRequest", index, body, why);
    }
    if (const std::string why = checkUsage(body, body.size() / 2, false); !why.empty()) {
      failures.add("UsageExtractor", index, body, why);
    }
    if (const std::string why = checkStream(body, body.size() / 2); !why.empty()) {
      failures.add("UsageExtractor (stream)", index, body, why);
    }
    if (const std::string why = testing::checkAnswerScans(body); !why.empty()) {
      failures.add("answer scan (simdjson)", index, body, why);
    }
    ++index;
  };
  for (const std::string& context : gridContexts()) {
    for (std::size_t k = 0; k < keys.size(); ++k) {
      const std::string& key = keys[k];
      for (std::size_t v = 0; v < values.size(); ++v) {
        const std::string member = "\"" + key + "\":" + values[v];
        check(fill(context, member));
        // A duplicate: the last one wins on the document path.
        const std::string& other = values[(v * 7 + k + 3) % values.size()];
        check(fill(context, member + ",\"" + key + "\":" + other));
      }
      // The key in pieces: an escape at the start, in the middle, at the end, everywhere.
      for (const std::size_t at : {std::size_t{0}, key.size() / 2, key.size() - 1}) {
        check(fill(context, "\"" + escapedKey(key, at) + "\":7"));
        check(fill(context, "\"" + key + "\":7,\"" + escapedKey(key, at) + "\":\"s\""));
      }
      std::string all_escaped;
      for (const char c : key) {
        char buf[8];
        std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned char>(c));
        all_escaped += buf;
      }
      check(fill(context, "\"" + all_escaped + "\":5"));
      // Longer than the scans keep (32 bytes), in pieces, sharing the key's prefix.
      check(fill(context, "\"" + escapedKey(key, 0) + std::string(40, 'x') + "\":5"));
      check(fill(context, "\"" + key + "\\u0000\":5"));
    }
  }
  EXPECT_EQ(failures.count, 0u) << "of " << index << " bodies";
}

// Strings longer than the parser's escape buffer: they arrive in several parts, split anywhere
// (also inside a multi-byte character).
TEST(ParserMutation, LongEscapedStringsAgree) {
  Failures failures;
  std::size_t index = 0;
  const std::vector<std::string> pieces = {
      "x", "\\u00e9", "\xc3\xa9", "\\ud83d\\ude00", "\xf0\x9f\x98\x80", "\\n", "\\\""};
  for (const std::size_t length : {4090u, 4096u, 4100u, 8200u}) {
    for (const std::string& piece : pieces) {
      std::string text = "\\u0041";  // escaped from the start
      while (text.size() < length) text += piece;
      for (
          const std::string& context : std::vector<std::string>{
              R"({"model":"@","service_tier":"@","usage":{"prompt_tokens":1}})",
              R"({"choices":[{"message":{"content":"@","tool_calls":[{"function":{"arguments":"@"}}]}}]})",
              R"({"choices":[{"text":"@"}],"@":1,"model":"m"})"}) {
        const std::string body = fill(context, text);
        if (const std::string why = checkClassifier(body, false); !why.empty()) {
          failures.add("classifyRequest", index, body, why);
        }
        if (const std::string why = checkUsage(body, body.size() / 3, false); !why.empty()) {
          failures.add("UsageExtractor", index, body, why);
        }
        if (const std::string why = checkStream(body, body.size() / 3); !why.empty()) {
          failures.add("UsageExtractor (stream)", index, body, why);
        }
        if (const std::string why = testing::checkAnswerScans(body); !why.empty()) {
          failures.add("answer scan (simdjson)", index, body, why);
        }
        ++index;
      }
    }
  }
  EXPECT_EQ(failures.count, 0u) << "of " << index << " bodies";
}

}  // namespace
}  // namespace spendgate::core
