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

// Minting an ephemeral Realtime credential hands out a provider key whose spend spendgate never
// sees: a used-up budget must refuse it, as it refuses the other paid creates.
TEST(UnpricedEndpoint, RealtimeCredentialsSessionsAndCalls) {
  for (const char* path :
       {"/v1/realtime/client_secrets", "/v1/realtime/translations/client_secrets",
        "/v1/realtime/sessions", "/v1/realtime/transcription_sessions", "/v1/realtime/calls",
        "/v1/realtime/calls/rtc_123/accept", "/v1/realtime/client_secrets/?x=1",
        "/v1/realtime%2Fclient_secrets"}) {
    EXPECT_TRUE(isUnpricedPaidEndpoint(ProviderFormat::OpenAI, "POST", path)) << path;
  }
  EXPECT_TRUE(
      isUnpricedPaidEndpoint(ProviderFormat::Azure, "POST", "/openai/v1/realtime/client_secrets"));
  EXPECT_TRUE(isUnpricedPaidEndpoint(ProviderFormat::Gemini, "POST",
                                     "/v1beta/openai/realtime/client_secrets"));
  // Ending a call, or refusing or transferring one, bills nothing; reads are free.
  for (const char* path : {"/v1/realtime/calls/rtc_123/hangup", "/v1/realtime/calls/rtc_123/reject",
                           "/v1/realtime/calls/rtc_123/refer"}) {
    EXPECT_FALSE(isUnpricedPaidEndpoint(ProviderFormat::OpenAI, "POST", path)) << path;
  }
  EXPECT_FALSE(
      isUnpricedPaidEndpoint(ProviderFormat::OpenAI, "GET", "/v1/realtime/client_secrets"));
}

TEST(UnpricedEndpoint, EvalRunsContainersAndVectorStores) {
  for (const char* path :
       {"/v1/evals/eval_1/runs", "/v1/evals/eval_1/runs/", "/v1/containers", "/v1/vector_stores",
        "/v1/vector_stores/vs_1/files", "/v1/vector_stores/vs_1/file_batches"}) {
    EXPECT_TRUE(isUnpricedPaidEndpoint(ProviderFormat::OpenAI, "POST", path)) << path;
  }
  for (const char* path :
       {"/v1/evals", "/v1/evals/eval_1", "/v1/evals/eval_1/runs/run_1/cancel",
        "/v1/evals/eval_1/runs/run_1", "/v1/evals/runs", "/v1/containers/c_1/files",
        "/v1/vector_stores/vs_1", "/v1/vector_stores/vs_1/search",
        "/v1/vector_stores/vs_1/files/file_1", "/v1/vector_stores/vs_1/file_batches/b_1/cancel"}) {
    EXPECT_FALSE(isUnpricedPaidEndpoint(ProviderFormat::OpenAI, "POST", path)) << path;
  }
  EXPECT_FALSE(isUnpricedPaidEndpoint(ProviderFormat::OpenAI, "GET", "/v1/evals/eval_1/runs"));
  // Native Gemini paths are not OpenAI's.
  EXPECT_FALSE(isUnpricedPaidEndpoint(ProviderFormat::Gemini, "POST", "/v1beta/containers"));
}

}  // namespace
}  // namespace spendgate::core
