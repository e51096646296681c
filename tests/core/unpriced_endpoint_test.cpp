#include "core/metering/unpriced_endpoint.hpp"

#include <gtest/gtest.h>

namespace spendgate::core {
namespace {

TEST(UnpricedEndpoint, OpenAiImageAudioVideoBatchAndFineTuningCreation) {
  for (const char* path :
       {"/v1/images/generations", "/v1/images/edits", "/v1/images/variations", "/v1/audio/speech",
        "/v1/audio/transcriptions", "/v1/audio/translations", "/v1/batches", "/v1/batches/",
        "/v1/fine_tuning/jobs", "/v1/videos", "/v1/images/generations?x=1"}) {
    EXPECT_TRUE(isUnpricedPaidEndpoint(ProviderFormat::OpenAI, "POST", path)) << path;
  }
  // Azure deployments and Gemini's OpenAI-compatible API use the same paths.
  EXPECT_TRUE(isUnpricedPaidEndpoint(ProviderFormat::Azure, "POST",
                                     "/openai/deployments/img/images/generations"));
  EXPECT_TRUE(
      isUnpricedPaidEndpoint(ProviderFormat::Gemini, "POST", "/v1beta/openai/images/generations"));
}

// Read as classifyRequest reads the path: percent-decoded, dot segments resolved.
TEST(UnpricedEndpoint, EncodedPathsAreReadDecoded) {
  EXPECT_TRUE(isUnpricedPaidEndpoint(ProviderFormat::Gemini, "POST",
                                     "/v1beta/models/imagen-4.0-generate-001%3Apredict"));
  EXPECT_TRUE(isUnpricedPaidEndpoint(ProviderFormat::Gemini, "POST", "/v1beta/cachedContent%73"));
  EXPECT_TRUE(isUnpricedPaidEndpoint(ProviderFormat::OpenAI, "POST", "/v1/images%2Fgenerations"));
  EXPECT_TRUE(isUnpricedPaidEndpoint(ProviderFormat::OpenAI, "POST", "/v1/batches/x/.."));
  EXPECT_TRUE(
      isUnpricedPaidEndpoint(ProviderFormat::Anthropic, "POST", "/v1/messages%2Fbatches?x=1"));
}

TEST(UnpricedEndpoint, ReadsListingsCancelsAndFreeEndpointsAreNot) {
  EXPECT_FALSE(isUnpricedPaidEndpoint(ProviderFormat::OpenAI, "GET", "/v1/batches"));
  EXPECT_FALSE(isUnpricedPaidEndpoint(ProviderFormat::OpenAI, "GET", "/v1/fine_tuning/jobs"));
  EXPECT_FALSE(isUnpricedPaidEndpoint(ProviderFormat::OpenAI, "POST", "/v1/batches/b1/cancel"));
  EXPECT_FALSE(
      isUnpricedPaidEndpoint(ProviderFormat::OpenAI, "POST", "/v1/fine_tuning/jobs/j/cancel"));
  EXPECT_FALSE(isUnpricedPaidEndpoint(ProviderFormat::OpenAI, "POST", "/v1/moderations"));
  EXPECT_FALSE(isUnpricedPaidEndpoint(ProviderFormat::OpenAI, "POST", "/v1/files"));
  EXPECT_FALSE(isUnpricedPaidEndpoint(ProviderFormat::OpenAI, "DELETE", "/v1/videos"));
  EXPECT_FALSE(
      isUnpricedPaidEndpoint(ProviderFormat::Anthropic, "POST", "/v1/messages/count_tokens"));
  EXPECT_FALSE(isUnpricedPaidEndpoint(ProviderFormat::Gemini, "POST",
                                      "/v1beta/models/gemini-2.5-flash:countTokens"));
}

TEST(UnpricedEndpoint, AnthropicBatchesAndGeminiPredictBatchAndCaches) {
  EXPECT_TRUE(isUnpricedPaidEndpoint(ProviderFormat::Anthropic, "POST", "/v1/messages/batches"));
  EXPECT_FALSE(
      isUnpricedPaidEndpoint(ProviderFormat::Anthropic, "POST", "/v1/messages/batches/b/cancel"));
  EXPECT_FALSE(isUnpricedPaidEndpoint(ProviderFormat::Anthropic, "GET", "/v1/messages/batches"));
  for (const char* path :
       {"/v1beta/models/imagen-4.0-generate-001:predict",
        "/v1beta/models/veo-3.0-generate-001:predictLongRunning",
        "/v1beta/models/gemini-2.5-flash:batchGenerateContent",
        "/v1beta/models/gemini-embedding-001:asyncBatchEmbedContent", "/v1beta/cachedContents"}) {
    EXPECT_TRUE(isUnpricedPaidEndpoint(ProviderFormat::Gemini, "POST", path)) << path;
  }
  // Native Gemini paths are not OpenAI's: /v1beta/batches/... is a read or cancel there.
  EXPECT_FALSE(isUnpricedPaidEndpoint(ProviderFormat::Gemini, "POST", "/v1beta/batches/b:cancel"));
}

}  // namespace
}  // namespace spendgate::core
