#include "core/metering/usage_chunk_filter.hpp"

#include <gtest/gtest.h>

#include "core/usage/usage_extractor.hpp"
#include "tests/core/usage_test_util.hpp"

namespace spendgate::core {
namespace {

using testing::readFixture;
using testing::withLineEnds;

std::string filterWithCuts(std::string_view upstream, const std::vector<std::size_t>& cuts) {
  UsageChunkFilter filter;
  std::string out;
  std::size_t from = 0;
  for (const std::size_t cut : cuts) {
    filter.feed(upstream.substr(from, cut - from), out);
    from = cut;
  }
  filter.feed(upstream.substr(from), out);
  filter.finish(out);
  return out;
}

TEST(UsageChunkFilter, ClientSeesTheStreamItWouldHaveGotWithoutInjection) {
  const std::string upstream = readFixture("openai_chat_stream_injected.sse");
  const std::string client = readFixture("openai_chat_stream_client.sse");
  ASSERT_NE(upstream, client);
  EXPECT_EQ(filterWithCuts(upstream, {}), client);
}

TEST(UsageChunkFilter, ByteExactAtEverySplitPointForLfCrlfAndCr) {
  for (const std::string_view end : {"\n", "\r\n", "\r"}) {
    const std::string upstream = withLineEnds(readFixture("openai_chat_stream_injected.sse"), end);
    const std::string client = withLineEnds(readFixture("openai_chat_stream_client.sse"), end);
    for (std::size_t cut = 0; cut <= upstream.size(); ++cut) {
      ASSERT_EQ(filterWithCuts(upstream, {cut}), client) << "cut " << cut;
    }
  }
}

TEST(UsageChunkFilter, ByteExactWhenFedOneByteAtATime) {
  const std::string upstream = withLineEnds(readFixture("openai_chat_stream_injected.sse"), "\r\n");
  std::vector<std::size_t> cuts;
  for (std::size_t i = 1; i < upstream.size(); ++i) cuts.push_back(i);
  EXPECT_EQ(filterWithCuts(upstream, cuts),
            withLineEnds(readFixture("openai_chat_stream_client.sse"), "\r\n"));
}

TEST(UsageChunkFilter, CompleteEventsAreNotDelayed) {
  UsageChunkFilter filter;
  std::string out;
  filter.feed("data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"cho", out);
  // The first event leaves at once; only the incomplete one is held.
  EXPECT_EQ(out, "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n");
  EXPECT_EQ(filter.heldBytes(), 11u);  // data: {"cho
  filter.feed("ices\":[],\"usage\":{\"prompt_tokens\":1}}\n\ndata: [DONE]\n\n", out);
  EXPECT_EQ(out, "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: [DONE]\n\n");
  EXPECT_EQ(filter.droppedEvents(), 1u);
  EXPECT_EQ(filter.heldBytes(), 0u);
}

TEST(UsageChunkFilter, KeepsAzureFirstChunkAndComments) {
  const std::string upstream = readFixture("azure_chat_stream.sse");
  const std::string out = filterWithCuts(": keep-alive\n\n" + upstream, {5, 300});
  // choices:[] without usage (Azure's prompt_filter_results chunk) stays.
  EXPECT_NE(out.find("prompt_filter_results"), std::string::npos);
  EXPECT_EQ(out.rfind(": keep-alive\n\n", 0), 0u);
  EXPECT_EQ(out.find("\"usage\""), std::string::npos);
  EXPECT_NE(out.find("data: [DONE]\n\n"), std::string::npos);
  const auto usage_at = upstream.find("data: {\"choices\":[],\"created\":1741570283");
  ASSERT_NE(usage_at, std::string::npos);
  const auto usage_end = upstream.find("\n\n", usage_at) + 2;
  EXPECT_EQ(out, ": keep-alive\n\n" + upstream.substr(0, usage_at) + upstream.substr(usage_end));
}

TEST(UsageChunkFilter, NullUsageIsCutOnlyFromDataLines) {
  // The same bytes in a comment or an `id:` line are not the chunk's member: relayed untouched.
  const std::string upstream =
      ": note ,\"usage\":null\r\n"
      "id: a,\"usage\":null\r\n"
      "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\r\n\r\n"
      "data: {\"usage\":null,\"choices\":[]}\n\n";
  const std::string expected =
      ": note ,\"usage\":null\r\n"
      "id: a,\"usage\":null\r\n"
      "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\r\n\r\n"
      "data: {\"choices\":[]}\n\n";
  for (std::size_t cut = 0; cut <= upstream.size(); ++cut) {
    ASSERT_EQ(filterWithCuts(upstream, {cut}), expected) << "cut " << cut;
  }
}

TEST(UsageChunkFilter, AnOverLongEventIsPassedOnWithABoundedHoldBack) {
  // A line longer than the hold-back is relayed as it comes: the proxy must not read megabytes
  // ahead of a client that does not read.
  UsageChunkFilter filter;
  std::string upstream = "data: {\"choices\":[{\"delta\":{\"content\":\"";
  upstream.append(4u << 20, 'x');
  upstream.append("\"}}],\"usage\":null}\n\ndata: [DONE]\n\n");
  std::string out;
  for (std::size_t at = 0; at < upstream.size(); at += 8192) {
    filter.feed(std::string_view(upstream).substr(at, 8192), out);
    ASSERT_LE(filter.heldBytes(), UsageChunkFilter::kDefaultMaxHeldEvent + 8192) << at;
  }
  filter.finish(out);
  EXPECT_EQ(out, upstream);  // undecided: passed on unchanged
  EXPECT_LE(UsageChunkFilter::kDefaultMaxHeldEvent, 1u << 20);
}

TEST(UsageChunkFilter, UnterminatedTailIsForwardedAtFinish) {
  UsageChunkFilter filter;
  std::string out;
  filter.feed("data: [DONE]\n\ndata: {\"partial\"", out);
  EXPECT_EQ(out, "data: [DONE]\n\n");
  filter.finish(out);
  EXPECT_EQ(out, "data: [DONE]\n\ndata: {\"partial\"");
}

TEST(UsageChunkFilter, UsageDetection) {
  JsonScratch json;
  EXPECT_TRUE(
      UsageChunkFilter::isUsageChunk(R"({"choices":[],"usage":{"prompt_tokens":1}})", json));
  EXPECT_TRUE(UsageChunkFilter::isUsageChunk(R"({"choices" : [ ], "usage" : {}})", json));
  EXPECT_FALSE(UsageChunkFilter::isUsageChunk(R"({"choices":[],"usage":null})", json));
  EXPECT_FALSE(UsageChunkFilter::isUsageChunk(R"({"choices":[],"model":""})", json));
  // Usage inside a content chunk (Gemini-compat) is not a separate usage event.
  EXPECT_FALSE(UsageChunkFilter::isUsageChunk(
      R"({"choices":[{"delta":{"content":"x"}}],"usage":{"prompt_tokens":1}})", json));
  EXPECT_FALSE(UsageChunkFilter::isUsageChunk(R"({"choices":[],"usage":{)", json));
  EXPECT_FALSE(UsageChunkFilter::isUsageChunk("[DONE]", json));
}

TEST(UsageChunkFilter, MeteringStillSeesTheUsage) {
  // The proxy feeds the same upstream bytes to the extractor and the filter.
  const std::string upstream = readFixture("openai_chat_stream_injected.sse");
  const RequestInfo info = classifyRequest(ProviderFormat::OpenAI, "/v1/chat/completions", "",
                                           R"({"model":"gpt-4o-mini","stream":true})");
  UsageExtractor extractor(info, 200, "text/event-stream");
  UsageChunkFilter filter;
  std::string out;
  for (std::size_t i = 0; i < upstream.size(); i += 64) {
    const auto piece = std::string_view(upstream).substr(i, 64);
    extractor.feed(piece);
    filter.feed(piece, out);
  }
  filter.finish(out);
  const UsageResult r = extractor.finish();
  EXPECT_EQ(r.status, UsageStatus::Reported);
  EXPECT_EQ(r.usage.input_tokens, 19);
  EXPECT_EQ(out, readFixture("openai_chat_stream_client.sse"));
}

}  // namespace
}  // namespace spendgate::core
