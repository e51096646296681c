#include "core/metering/request_classifier.hpp"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/value.hpp>
#include <utility>

#include "core/usage/json_fields.hpp"

namespace spendgate::core {

using json_fields::boolMember;
using json_fields::integerMember;
using json_fields::objectMember;
using json_fields::stringMember;

std::string_view endpointKindName(EndpointKind kind) {
  switch (kind) {
    case EndpointKind::ChatCompletions:
      return "chat_completions";
    case EndpointKind::Completions:
      return "completions";
    case EndpointKind::Embeddings:
      return "embeddings";
    case EndpointKind::Responses:
      return "responses";
    case EndpointKind::AnthropicMessages:
      return "anthropic_messages";
    case EndpointKind::GeminiGenerateContent:
      return "gemini_generate_content";
    case EndpointKind::GeminiStreamGenerateContent:
      return "gemini_stream_generate_content";
    case EndpointKind::Unmetered:
      return "unmetered";
  }
  return "unmetered";
}

namespace {

bool endsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

EndpointKind openAiKind(std::string_view path) {
  if (endsWith(path, "/chat/completions")) return EndpointKind::ChatCompletions;
  if (endsWith(path, "/completions")) return EndpointKind::Completions;
  if (endsWith(path, "/embeddings")) return EndpointKind::Embeddings;
  if (endsWith(path, "/responses")) return EndpointKind::Responses;
  return EndpointKind::Unmetered;
}

// Gemini native: ".../models/{model}:{method}" (also tunedModels/{model}).
EndpointKind geminiKind(std::string_view path, std::string& model) {
  const auto slash = path.rfind('/');
  const std::string_view last = slash == std::string_view::npos ? path : path.substr(slash + 1);
  const auto colon = last.find(':');
  if (colon == std::string_view::npos) return EndpointKind::Unmetered;
  const std::string_view method = last.substr(colon + 1);
  model.assign(last.substr(0, colon));
  if (method == "generateContent") return EndpointKind::GeminiGenerateContent;
  if (method == "streamGenerateContent") return EndpointKind::GeminiStreamGenerateContent;
  return EndpointKind::Unmetered;  // countTokens, embedContent, ...
}

std::string_view azureDeployment(std::string_view path) {
  constexpr std::string_view kMarker = "/openai/deployments/";
  const auto at = path.find(kMarker);
  if (at == std::string_view::npos) return {};
  std::string_view rest = path.substr(at + kMarker.size());
  return rest.substr(0, rest.find('/'));
}

}  // namespace

RequestInfo classifyRequest(ProviderFormat format,
                            std::string_view path,
                            std::string_view query,
                            std::string_view body,
                            const DeploymentMap& deployments) {
  (void)query;  // alt=sse only changes the framing, which the response content-type reveals
  RequestInfo info;
  info.format = format;
  info.request_body_bytes = static_cast<std::int64_t>(body.size());
  if (const auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);

  std::string path_model;
  const bool openai_shaped_gemini =
      path.find("/openai/") != std::string_view::npos &&
      (format == ProviderFormat::Gemini || path.find("/v1beta/openai/") != std::string_view::npos);
  switch (format) {
    case ProviderFormat::Anthropic:
      info.kind =
          endsWith(path, "/messages") ? EndpointKind::AnthropicMessages : EndpointKind::Unmetered;
      break;
    case ProviderFormat::Gemini:
      info.kind = openai_shaped_gemini ? openAiKind(path) : geminiKind(path, path_model);
      break;
    case ProviderFormat::OpenAI:
    case ProviderFormat::Azure:
      info.kind = openAiKind(path);
      break;
  }
  info.gemini_compat = openai_shaped_gemini;
  if (info.kind == EndpointKind::GeminiStreamGenerateContent) info.stream = true;

  // The request body: every field is optional, and a non-JSON body is not an error here.
  boost::json::value doc;
  if (!body.empty()) {
    boost::json::parse_options options;
    options.max_depth = 256;  // tool schemas nest deeply
    boost::system::error_code ec;
    try {
      doc = boost::json::parse(body, ec, {}, options);
    } catch (...) {
      ec = boost::json::make_error_code(boost::json::error::exception);
    }
    if (ec) doc = nullptr;
  }
  const boost::json::object* root = doc.if_object();
  info.body_is_json = root != nullptr;

  info.requested_model.assign(stringMember(root, "model"));
  if (!path_model.empty()) {
    // Gemini names the model in the path ("models/gemini-2.5-flash" -> "gemini-2.5-flash").
    info.requested_model = path_model;
  }
  if (const auto deployment = azureDeployment(path); !deployment.empty()) {
    info.azure_deployment.assign(deployment);
    if (const auto it = deployments.find(info.azure_deployment); it != deployments.end()) {
      info.requested_model = it->second;
    } else if (info.requested_model.empty()) {
      info.requested_model = info.azure_deployment;
    }
  }

  if (boolMember(root, "stream").value_or(false)) info.stream = true;
  const auto* stream_options = objectMember(root, "stream_options");
  info.include_usage_requested = boolMember(stream_options, "include_usage").value_or(false);
  info.service_tier.assign(stringMember(root, "service_tier"));

  const auto* generation = objectMember(root, "generationConfig");
  for (const auto& [object, key] :
       {std::pair{root, "max_completion_tokens"}, std::pair{root, "max_tokens"},
        std::pair{root, "max_output_tokens"}, std::pair{generation, "maxOutputTokens"}}) {
    if (const auto v = integerMember(object, key); v && *v >= 0) {
      info.max_output_tokens = *v;
      break;
    }
  }
  auto choices = integerMember(root, "n");
  if (!choices) choices = integerMember(generation, "candidateCount");
  // The APIs cap n at 128; a larger value is refused upstream, so it never needs a bigger bound.
  if (choices && *choices > 1) info.choices = std::min<std::int64_t>(*choices, 128);

  info.needs_usage_injection =
      (info.kind == EndpointKind::ChatCompletions || info.kind == EndpointKind::Completions) &&
      info.stream && !info.include_usage_requested && info.body_is_json;
  return info;
}

}  // namespace spendgate::core
