#pragma once

// The fast paths of the answer scan (by hand without an escape, simdjson with one) against the SAX
// scan they stand in for, on one body.

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "core/usage/openai_answer_scan.hpp"

namespace spendgate::core::testing {

inline bool sameCount(const json_fields::CountValue& a, const json_fields::CountValue& b) {
  using Kind = json_fields::CountValue::Kind;
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Kind::Int64:
      return a.i == b.i;
    case Kind::Uint64:
      return a.u == b.u;
    case Kind::Double:
      return a.d == b.d;
    default:
      return true;
  }
}

inline bool sameAnswer(const OpenAiAnswer& a, const OpenAiAnswer& b) {
  const OpenAiUsageFields& x = a.usage;
  const OpenAiUsageFields& y = b.usage;
  return a.model == b.model && a.service_tier == b.service_tier && a.has_usage == b.has_usage &&
         a.output_weight == b.output_weight && x.has_input_tokens == y.has_input_tokens &&
         x.has_output_tokens == y.has_output_tokens &&
         sameCount(x.prompt_tokens, y.prompt_tokens) &&
         sameCount(x.completion_tokens, y.completion_tokens) &&
         sameCount(x.input_tokens, y.input_tokens) && sameCount(x.output_tokens, y.output_tokens) &&
         sameCount(x.total_tokens, y.total_tokens) && sameCount(x.prompt_cached, y.prompt_cached) &&
         sameCount(x.input_cached, y.input_cached) &&
         sameCount(x.completion_reasoning, y.completion_reasoning) &&
         sameCount(x.output_reasoning, y.output_reasoning) &&
         sameCount(x.prompt_audio, y.prompt_audio) &&
         sameCount(x.completion_audio, y.completion_audio);
}

inline std::string describeAnswer(const OpenAiAnswer& a) {
  const auto count = [](const json_fields::CountValue& c) {
    return std::to_string(static_cast<int>(c.kind)) + ":" + std::to_string(c.i) + "/" +
           std::to_string(c.u) + "/" + std::to_string(c.d);
  };
  const OpenAiUsageFields& u = a.usage;
  return "model='" + a.model + "' tier='" + a.service_tier +
         "' usage=" + std::to_string(a.has_usage) + " weight=" + std::to_string(a.output_weight) +
         " has_in/out=" + std::to_string(u.has_input_tokens) + std::to_string(u.has_output_tokens) +
         " prompt=" + count(u.prompt_tokens) + " completion=" + count(u.completion_tokens) +
         " input=" + count(u.input_tokens) + " output=" + count(u.output_tokens) +
         " total=" + count(u.total_tokens) + " prompt_cached=" + count(u.prompt_cached) +
         " input_cached=" + count(u.input_cached) +
         " completion_reasoning=" + count(u.completion_reasoning) +
         " output_reasoning=" + count(u.output_reasoning) +
         " prompt_audio=" + count(u.prompt_audio) +
         " completion_audio=" + count(u.completion_audio);
}

/** What a fast path decided, for the tests' tallies. */
struct FastTally {
  std::size_t answers = 0;
  std::size_t give_ups = 0;
  std::size_t not_read = 0;
};

/**
 * @return "" when the plain scan (no escape) agrees with the SAX scan on `body` read as `stream`
 *         or not (the same answer, or both give up; NotRead leaves it to the SAX scan).
 */
inline std::string checkPlainScan(std::string_view body, bool stream, FastTally* tally = nullptr) {
  OpenAiAnswer plain;
  OpenAiAnswer sax;
  // A copy of exactly its size: a read past the end is one for memcheck and ASan (a std::string
  // has its terminator there).
  const std::unique_ptr<char[]> exact(new char[body.size() + (body.empty() ? 1 : 0)]);
  if (!body.empty()) std::memcpy(exact.get(), body.data(), body.size());
  const FastScan decided =
      scanOpenAiPlain(std::string_view(exact.get(), body.size()), stream, plain);
  const bool read = scanOpenAiSax(body, stream, sax);
  const std::string mode = stream ? " (chunk)" : "";
  switch (decided) {
    case FastScan::Answer:
      if (tally) ++tally->answers;
      if (!read)
        return "plain scan answered {" + describeAnswer(plain) + "}, SAX scan gave up" + mode;
      if (!sameAnswer(plain, sax)) {
        return "plain {" + describeAnswer(plain) + "} SAX {" + describeAnswer(sax) + "}" + mode;
      }
      return {};
    case FastScan::GiveUp:
      if (tally) ++tally->give_ups;
      if (read) return "plain scan gave up, SAX scan answered {" + describeAnswer(sax) + "}" + mode;
      return {};
    case FastScan::NotRead:
      if (tally) ++tally->not_read;
      return {};
  }
  return "unknown decision";
}

/**
 * @return "" when the fast paths agree with the SAX scan on `body` (the same answer, or both give
 *         up; NotRead leaves it to the SAX scan and agrees by construction), else how not: the
 *         plain scan as an answer and as a chunk event, then simdjson's.
 */
inline std::string checkAnswerScans(std::string_view body,
                                    FastTally* tally = nullptr,
                                    FastTally* plain_tally = nullptr) {
  for (const bool stream : {false, true}) {
    if (std::string why = checkPlainScan(body, stream, stream ? nullptr : plain_tally);
        !why.empty()) {
      return why;
    }
  }
  OpenAiAnswer fast;
  OpenAiAnswer sax;
  const FastScan decided = scanOpenAiAnswerFast(body, fast);
  const bool read = scanOpenAiSax(body, false, sax);
  switch (decided) {
    case FastScan::Answer:
      if (tally) ++tally->answers;
      if (!read) return "fast path answered {" + describeAnswer(fast) + "}, SAX scan gave up";
      if (!sameAnswer(fast, sax)) {
        return "fast {" + describeAnswer(fast) + "} SAX {" + describeAnswer(sax) + "}";
      }
      return {};
    case FastScan::GiveUp:
      if (tally) ++tally->give_ups;
      if (read) return "fast path gave up, SAX scan answered {" + describeAnswer(sax) + "}";
      return {};
    case FastScan::NotRead:
      if (tally) ++tally->not_read;
      return {};
  }
  return "unknown decision";
}

}  // namespace spendgate::core::testing
