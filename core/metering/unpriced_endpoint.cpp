#include "core/metering/unpriced_endpoint.hpp"

#include <array>

#include "core/metering/request_classifier.hpp"

namespace spendgate::core {

namespace {

// OpenAI-shaped paths (also Azure's /openai/deployments/{d}/... and Gemini's /v1beta/openai/...),
// matched against the path's last segments; "*" stands for one segment (an id).
constexpr std::array<std::string_view, 20> kOpenAiPaid = {
    "images/generations",
    "images/edits",
    "images/variations",
    "audio/speech",
    "audio/transcriptions",
    "audio/translations",
    "batches",
    "fine_tuning/jobs",
    "videos",
    // Ephemeral Realtime credentials and sessions: whoever holds one spends at the provider
    // without spendgate seeing it, so a used-up budget must refuse to mint one.
    "realtime/client_secrets",
    "realtime/translations/client_secrets",
    "realtime/sessions",
    "realtime/transcription_sessions",
    "realtime/calls",
    "realtime/calls/*/accept",  // a SIP call answered: a billed Realtime session starts
    // Eval runs bill their model calls; containers (code interpreter) bill per session; vector
    // stores bill storage by the day from creation, and more with each file added.
    "evals/*/runs",
    "containers",
    "vector_stores",
    "vector_stores/*/files",
    "vector_stores/*/file_batches",
};

/** @return whether `path`'s last segments are `pattern`'s, "*" matching any one segment. */
bool endsWithSegments(std::string_view path, std::string_view pattern) {
  while (!pattern.empty()) {
    const auto pattern_slash = pattern.rfind('/');
    const std::string_view want =
        pattern_slash == std::string_view::npos ? pattern : pattern.substr(pattern_slash + 1);
    const auto slash = path.rfind('/');
    if (slash == std::string_view::npos) return false;  // the path has no more segments
    const std::string_view got = path.substr(slash + 1);
    if (want == "*" ? got.empty() : got != want) return false;
    path = path.substr(0, slash);
    pattern = pattern_slash == std::string_view::npos ? std::string_view{}
                                                      : pattern.substr(0, pattern_slash);
  }
  return true;
}

// Gemini native methods (".../models/{model}:{method}") that bill per image, second or request.
constexpr std::array<std::string_view, 4> kGeminiPaidMethods = {
    "predict", "predictLongRunning", "batchGenerateContent", "asyncBatchEmbedContent"};

bool geminiPaid(std::string_view path) {
  // Cached contents are billed for storage by the hour from their creation.
  if (path.ends_with("/cachedContents")) return true;
  const std::string_view method = splitGeminiCall(path).method;
  for (const std::string_view paid : kGeminiPaidMethods) {
    if (method == paid) return true;
  }
  return false;
}

}  // namespace

bool isUnpricedPaidEndpoint(ProviderFormat format, std::string_view method, std::string_view path) {
  // Read as classifyRequest reads it: percent-decoded, dot segments resolved.
  return isUnpricedPaidEndpoint(format, method, CanonicalPath(path));
}

bool isUnpricedPaidEndpoint(ProviderFormat format,
                            std::string_view method,
                            const CanonicalPath& canonical) {
  if (method != "POST") return false;
  std::string_view path = canonical.view();
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);

  if (format == ProviderFormat::Anthropic) return path.ends_with("/messages/batches");
  if (format == ProviderFormat::Gemini && !isOpenAiCompatibleGeminiPath(format, path)) {
    return geminiPaid(path);
  }
  for (const std::string_view paid : kOpenAiPaid) {
    if (endsWithSegments(path, paid)) return true;
  }
  return false;
}

}  // namespace spendgate::core
