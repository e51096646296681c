#include "core/metering/unpriced_endpoint.hpp"

#include <array>

#include "core/metering/request_classifier.hpp"

namespace spendgate::core {

namespace {

// OpenAI-shaped paths (also Azure's /openai/deployments/{d}/... and Gemini's /v1beta/openai/...).
constexpr std::array<std::string_view, 9> kOpenAiPaid = {
    "/images/generations",
    "/images/edits",
    "/images/variations",
    "/audio/speech",
    "/audio/transcriptions",
    "/audio/translations",
    "/batches",
    "/fine_tuning/jobs",
    "/videos",
};

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
    if (path.ends_with(paid)) return true;
  }
  return false;
}

}  // namespace spendgate::core
