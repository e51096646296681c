// classifyRequest (core/metering/request_classifier.hpp): the client's path, query and body.
// Input: 1 option byte, then either
//   - option < 0x80: the body, sent to one of the known routes (option picks it);
//   - option >= 0x80: "PATH\nQUERY\nBODY" sent with format (option & 3).
// Invariants: the one-pass body reader agrees with the document-based reader it replaced
// (tests/core/reference_body_view.hpp, as tests/core/parser_mutation_test.cpp holds it to), and
// the documented ranges of RequestInfo hold whatever the path.

#include <algorithm>
#include <array>
#include <string_view>

#include "core/metering/request_classifier.hpp"
#include "tests/core/reference_body_view.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace {

using namespace spendgate::core;

struct Route {
  ProviderFormat format;
  std::string_view path;
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

constexpr std::array kFormats = {ProviderFormat::OpenAI, ProviderFormat::Azure,
                                 ProviderFormat::Anthropic, ProviderFormat::Gemini};

void checkRanges(const RequestInfo& got, std::string_view body) {
  FUZZ_CHECK(got.request_body_bytes == static_cast<std::int64_t>(body.size()));
  FUZZ_CHECK(got.choices >= 1 && got.choices <= 128);
  FUZZ_CHECK(!got.max_output_tokens || *got.max_output_tokens >= 0);
  if (got.needs_usage_injection) {
    FUZZ_CHECK(got.kind == EndpointKind::ChatCompletions || got.kind == EndpointKind::Completions);
    FUZZ_CHECK(got.stream && !got.include_usage_requested && got.body_is_json);
  }
}

/** The body-derived fields, which no path changes. */
void checkBody(const RequestInfo& got, const testing::BodyView& want) {
  FUZZ_CHECK(got.body_is_json == want.body_is_json);
  FUZZ_CHECK(got.background == want.background);
  FUZZ_CHECK(got.include_usage_requested == want.include_usage);
  FUZZ_CHECK(got.service_tier == want.service_tier);
  FUZZ_CHECK(got.max_output_tokens == want.max_output_tokens);
  FUZZ_CHECK(got.choices == want.choices);
}

}  // namespace

SPENDGATE_FUZZ_TARGET(request_classifier) {
  static const DeploymentMap kDeployments = {{"prod", "gpt-4o"}};
  // An Azure classic stream gets include_usage only at an api-version that takes it.
  static constexpr std::string_view kQuery = "api-version=2024-10-21";
  spendgate::fuzz::Input in(data, size);
  const std::uint8_t option = in.byte();

  if (option < 0x80) {
    const Route& route = kRoutes[option % kRoutes.size()];
    const std::string_view body = in.rest();
    const RequestInfo got = classifyRequest(route.format, route.path, kQuery, body, kDeployments);
    const RequestInfo bare = classifyRequest(route.format, route.path, kQuery, "", kDeployments);
    const testing::BodyView want =
        testing::referenceBody(body, route.format == ProviderFormat::Gemini && !bare.gemini_compat);
    checkRanges(got, body);
    checkBody(got, want);
    FUZZ_CHECK(got.kind == bare.kind && got.format == bare.format);
    FUZZ_CHECK(got.azure_deployment == bare.azure_deployment);
    FUZZ_CHECK(got.gemini_compat == bare.gemini_compat);
    FUZZ_CHECK(got.stream ==
               (want.stream || bare.kind == EndpointKind::GeminiStreamGenerateContent));
    std::string model = want.model;
    if (route.format == ProviderFormat::Gemini && bare.kind != EndpointKind::ChatCompletions) {
      model = "gemini-2.5-flash";
    } else if (bare.gemini_compat && model.starts_with("models/")) {
      model.erase(0, 7);  // as a native path names it
    }
    if (bare.azure_deployment == "prod") {
      model = "gpt-4o";
    } else if (!bare.azure_deployment.empty() && model.empty()) {
      model = bare.azure_deployment;
    }
    FUZZ_CHECK(got.requested_model == model);
    const bool injection =
        (got.kind == EndpointKind::ChatCompletions || got.kind == EndpointKind::Completions) &&
        got.stream && !want.include_usage && want.body_is_json;
    FUZZ_CHECK(got.needs_usage_injection == injection);
    return 0;
  }

  std::string_view rest = in.rest();
  auto field = [&rest] {
    const std::size_t nl = std::min(rest.find('\n'), rest.size());
    const std::string_view out = rest.substr(0, nl);
    rest.remove_prefix(std::min(nl + 1, rest.size()));
    return out;
  };
  const std::string_view path = field();
  const std::string_view query = field();
  const std::string_view body = rest;
  const ProviderFormat format = kFormats[option & 3];
  const RequestInfo got = classifyRequest(format, path, query, body, kDeployments);
  const RequestInfo bare = classifyRequest(format, path, query, "", kDeployments);
  checkRanges(got, body);
  checkBody(got,
            testing::referenceBody(body, format == ProviderFormat::Gemini && !bare.gemini_compat));
  FUZZ_CHECK(got.kind == bare.kind && got.azure_deployment == bare.azure_deployment);
  (void)isOpenAiCompatibleGeminiPath(format, path);
  return 0;
}
