// UsageExtractor (core/usage/usage_extractor.hpp): an upstream's 2xx answer body, JSON, SSE or
// Gemini's JSON-array stream, for every endpoint and provider, split anywhere.
// Input: context byte (endpoint/provider), flags byte, 2 bytes request body size, 7 chunk-size
// bytes (fuzz_support.hpp), then the body.
// Invariants:
// - the result does not depend on where the body was split (default caps);
// - the one-pass scan of OpenAI-shaped answers and stream chunk events agrees with the document
//   path (document_only), the running counts included;
// - usage.hpp's normalization holds: counts >= 0, subsets inside their totals, 5m + 1h writes
//   equal the writes, and an estimate never exceeds the request's own output cap. (Only for the
//   result: reportedSoFar() is the provider's raw counts, absurd ones included; finish() is
//   what judges them.)

#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>
#include <vector>

#include "core/usage/usage_extractor.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace {

using namespace spendgate::core;

struct Context {
  EndpointKind kind;
  ProviderFormat format;
  bool gemini_compat;
};

constexpr std::array kContexts = {
    Context{EndpointKind::ChatCompletions, ProviderFormat::OpenAI, false},
    Context{EndpointKind::ChatCompletions, ProviderFormat::Gemini, true},
    Context{EndpointKind::ChatCompletions, ProviderFormat::Azure, false},
    Context{EndpointKind::Completions, ProviderFormat::OpenAI, false},
    Context{EndpointKind::Embeddings, ProviderFormat::OpenAI, false},
    Context{EndpointKind::Embeddings, ProviderFormat::Gemini, false},
    Context{EndpointKind::Responses, ProviderFormat::OpenAI, false},
    Context{EndpointKind::AnthropicMessages, ProviderFormat::Anthropic, false},
    Context{EndpointKind::GeminiGenerateContent, ProviderFormat::Gemini, false},
    Context{EndpointKind::GeminiStreamGenerateContent, ProviderFormat::Gemini, false},
};

constexpr std::array<std::string_view, 4> kContentTypes = {"application/json", "text/event-stream",
                                                           "Text/Event-Stream; charset=utf-8",
                                                           "application/json; charset=utf-8"};

constexpr std::array<std::int64_t, 4> kOutputCaps = {0, 1, 1000,
                                                     std::numeric_limits<std::int64_t>::max()};

struct Outcome {
  UsageResult result;
  std::optional<Usage> so_far;
  bool stream = false;
};

Outcome run(const RequestInfo& info,
            std::string_view content_type,
            UsageExtractor::Limits limits,
            const std::vector<std::string_view>& pieces) {
  UsageExtractor extractor(info, 200, content_type, limits);
  for (const std::string_view piece : pieces) {
    extractor.feed(piece);
    (void)extractor.reportedSoFar();
  }
  Outcome out;
  out.so_far = extractor.reportedSoFar();
  out.stream = extractor.isStream();
  out.result = extractor.finish();
  return out;
}

bool same(const Outcome& a, const Outcome& b) {
  return a.result.usage == b.result.usage && a.result.status == b.result.status &&
         a.result.estimated == b.result.estimated &&
         a.result.upstream_error == b.result.upstream_error && a.result.detail == b.result.detail &&
         a.so_far == b.so_far && a.stream == b.stream;
}

void checkNormalized(const Usage& u) {
  FUZZ_CHECK(u.input_tokens >= 0 && u.output_tokens >= 0);
  FUZZ_CHECK(u.cached_input_tokens >= 0 && u.cache_write_tokens >= 0);
  FUZZ_CHECK(u.cache_write_5m_tokens >= 0 && u.cache_write_1h_tokens >= 0);
  FUZZ_CHECK(u.reasoning_tokens >= 0 && u.web_search_requests >= 0);
  FUZZ_CHECK(u.cache_write_5m_tokens + u.cache_write_1h_tokens == u.cache_write_tokens);
  FUZZ_CHECK(u.uncachedInputTokens() >= 0);
  FUZZ_CHECK(u.reasoning_tokens <= u.output_tokens);
}

}  // namespace

SPENDGATE_FUZZ_TARGET(usage_extractor) {
  spendgate::fuzz::Input in(data, size);
  const Context& context = kContexts[in.byte() % kContexts.size()];
  const std::uint8_t flags = in.byte();
  const std::int64_t body_bytes = in.byte() | (in.byte() << 8);
  const std::string_view cuts = in.take(spendgate::fuzz::kCutBytes);
  const std::string_view body = in.rest();

  RequestInfo info;
  info.kind = context.kind;
  info.format = context.format;
  info.gemini_compat = context.gemini_compat;
  info.stream = (flags & 0x40) != 0 || context.kind == EndpointKind::GeminiStreamGenerateContent;
  info.request_body_bytes = body_bytes;
  if ((flags & 0x08) != 0) info.max_output_tokens = kOutputCaps[(flags >> 4) & 3];
  const std::string_view content_type = kContentTypes[flags & 3];
  const bool small_caps = (flags & 0x80) != 0;
  UsageExtractor::Limits limits;
  if (small_caps) {  // the over-the-cap paths: TooLarge bodies, discarded events and elements
    limits.max_json_bytes = 64;
    limits.max_event_bytes = 64;
  }
  limits.document_only = (flags & 0x04) != 0;

  const Outcome whole = run(info, content_type, limits, {body});
  const Outcome pieces = run(info, content_type, limits, spendgate::fuzz::chunks(body, cuts));
  // A split line is measured against a tiny event cap before it is complete, so there the two
  // may discard differently; with the default caps the split never matters.
  if (!small_caps) FUZZ_CHECK(same(whole, pieces));

  for (const Outcome* o : {&whole, &pieces}) {
    const UsageResult& r = o->result;
    checkNormalized(r.usage);
    if (r.status == UsageStatus::NotBillable) FUZZ_CHECK(r.usage.input_tokens == 0);
    if (r.status != UsageStatus::Reported && r.status != UsageStatus::Partial) {
      FUZZ_CHECK(!r.usage.reported);
      if (info.max_output_tokens) {
        FUZZ_CHECK(r.usage.output_tokens <= *info.max_output_tokens * info.choices);
      }
    }
  }

  // The scan of OpenAI-shaped answers and chunk events against the document path.
  UsageExtractor::Limits other = limits;
  other.document_only = !limits.document_only;
  FUZZ_CHECK(same(whole, run(info, content_type, other, {body})));
  return 0;
}
