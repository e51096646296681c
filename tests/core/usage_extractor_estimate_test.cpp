// UsageExtractor::estimateInto: what a reader was fed, estimated without finishing it (for a
// caller whose finish threw part-way; review 22 F7).

#include <gtest/gtest.h>

#include "core/metering/request_classifier.hpp"
#include "core/usage/usage_extractor.hpp"
#include "tests/core/usage_test_util.hpp"

namespace spendgate::core {
namespace {

using testing::kJson;
using testing::kSse;

TEST(UsageExtractorEstimate, AStreamsCountsSoFarAreAFloorAndTheResultIsEstimated) {
  const RequestInfo info = classifyRequest(
      ProviderFormat::OpenAI, "/v1/chat/completions", "",
      R"({"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}})");
  UsageExtractor extractor(info, 200, kSse);
  extractor.feed(
      "data: {\"model\":\"gpt-4o\",\"choices\":[{\"delta\":{\"content\":\"Hello\"}}]}\n\n"
      "data: {\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":19,"
      "\"completion_tokens\":10,\"total_tokens\":29}}\n\n");
  UsageResult out;
  extractor.estimateInto(out);
  EXPECT_TRUE(out.estimated);
  EXPECT_EQ(out.usage.input_tokens, 19);
  EXPECT_EQ(out.usage.output_tokens, 10);
  EXPECT_EQ(out.usage.model, "gpt-4o");
}

TEST(UsageExtractorEstimate, AJsonBodyIsEstimatedFromItsBytes) {
  const RequestInfo info =
      classifyRequest(ProviderFormat::OpenAI, "/v1/chat/completions", "", R"({"model":"gpt-4o"})");
  UsageExtractor extractor(info, 200, kJson);
  extractor.feed(std::string(400, ' '));
  UsageResult out;
  extractor.estimateInto(out);
  EXPECT_TRUE(out.estimated);
  EXPECT_EQ(out.status, UsageStatus::Estimated);
  EXPECT_EQ(out.usage.output_tokens, 100);  // 400 bytes -> 100 tokens
}

}  // namespace
}  // namespace spendgate::core
