#include "core/pricing/background_settlement.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/metering/request_classifier.hpp"
#include "core/usage/usage_extractor.hpp"
#include "tests/core/test_catalog.hpp"

namespace spendgate::core {
namespace {

Pricer pricer(UnknownModelPolicy::Kind kind = UnknownModelPolicy::Kind::Reject) {
  UnknownModelPolicy policy;
  policy.kind = kind;
  return Pricer(testing::testCatalog(), policy);
}

UsageResult read(const RequestInfo& info,
                 const std::string& content_type,
                 const std::string& body,
                 int status = 200) {
  UsageExtractor extractor(info, status, content_type);
  extractor.feed(body);
  return extractor.finish();
}

const std::string kBackground = R"({"model":"gpt-4.1","input":"research","background":true,)"
                                R"("max_output_tokens":1000})";
const std::string kQueued = R"({"id":"resp_1","object":"response","status":"queued",)"
                            R"("background":true,"model":"gpt-4.1","output":[],"usage":null})";

// A queued background create carries usage: null; the provider bills the whole run. It is charged
// its worst case (input bound + output bound), the amount reserved for it, flagged estimated.
TEST(BackgroundSettlement, AQueuedAnswerWithoutUsageIsChargedTheWorstCase) {
  const Pricer p = pricer();
  const RequestInfo info =
      classifyRequest(ProviderFormat::OpenAI, "/v1/responses", "", kBackground);
  const UsageResult seen = read(info, "application/json", kQueued);
  ASSERT_EQ(seen.status, UsageStatus::Estimated);  // input-only estimate before the fix
  EXPECT_EQ(seen.usage.output_tokens, 0);

  const auto settled = backgroundSettlement(p, info, seen);
  ASSERT_TRUE(settled.has_value());
  const WorstCase worst = p.worstCase(info);
  EXPECT_EQ(settled->result.usage.input_tokens, static_cast<std::int64_t>(kBackground.size()));
  EXPECT_EQ(settled->result.usage.output_tokens, 1000);
  EXPECT_TRUE(settled->result.estimated);
  EXPECT_EQ(settled->result.status, UsageStatus::Estimated);
  EXPECT_EQ(settled->result.usage.model, "gpt-4.1");
  EXPECT_EQ(settled->cost.amount, worst.amount);
  // gpt-4.1: 2.00 in / 8.00 out per 1M tokens, in picodollars per token.
  EXPECT_EQ(settled->cost.amount, static_cast<Picodollars>(kBackground.size()) * 2'000'000 +
                                      Picodollars{1000} * 8'000'000);
  EXPECT_TRUE(settled->cost.priced);
}

// Audit 12: a queued answer whose usage is there but zeroed (no run yet) was charged $0.
TEST(BackgroundSettlement, AQueuedAnswerWithZeroedUsageIsChargedTheWorstCase) {
  const Pricer p = pricer();
  const RequestInfo info =
      classifyRequest(ProviderFormat::OpenAI, "/v1/responses", "", kBackground);
  const std::string queued_zero =
      R"({"id":"resp_1","object":"response","status":"queued","background":true,)"
      R"("model":"gpt-4.1","output":[],"usage":{"input_tokens":0,"output_tokens":0,)"
      R"("total_tokens":0}})";
  const UsageResult seen = read(info, "application/json", queued_zero);
  const auto settled = backgroundSettlement(p, info, seen);
  ASSERT_TRUE(settled.has_value()) << static_cast<int>(seen.status);
  EXPECT_EQ(settled->result.usage.output_tokens, 1000);
  EXPECT_EQ(settled->cost.amount, p.worstCase(info).amount);
}

// Without an output cap the bound is the model's maximum output, as the reservation's is.
TEST(BackgroundSettlement, WithoutACapTheModelsMaximumOutputIsCharged) {
  const Pricer p = pricer();
  const std::string body = R"({"model":"gpt-4.1","input":"x","background":true})";
  const RequestInfo info = classifyRequest(ProviderFormat::OpenAI, "/v1/responses", "", body);
  const auto settled = backgroundSettlement(p, info, read(info, "application/json", kQueued));
  ASSERT_TRUE(settled.has_value());
  EXPECT_EQ(settled->result.usage.output_tokens, 32768);
  EXPECT_EQ(settled->cost.amount, p.worstCase(info).amount);
}

// A streamed background run cut before its terminal event: charged the worst case. One that runs
// to response.completed with usage is charged exactly what it reports.
TEST(BackgroundSettlement, AStreamCutEarlyIsChargedTheWorstCaseAndACompleteOneExactly) {
  const Pricer p = pricer();
  const std::string body = R"({"model":"gpt-4.1","input":"x","background":true,"stream":true,)"
                           R"("max_output_tokens":500})";
  const RequestInfo info = classifyRequest(ProviderFormat::OpenAI, "/v1/responses", "", body);
  const std::string created =
      "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":"
      "\"resp_1\",\"status\":\"queued\",\"model\":\"gpt-4.1\",\"usage\":null}}\n\n"
      "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\","
      "\"delta\":\"Hello\"}\n\n";
  const auto cut = backgroundSettlement(p, info, read(info, "text/event-stream", created));
  ASSERT_TRUE(cut.has_value());
  EXPECT_EQ(cut->result.usage.output_tokens, 500);
  EXPECT_EQ(cut->cost.amount, p.worstCase(info).amount);

  const std::string completed =
      created +
      "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":"
      "\"resp_1\",\"status\":\"completed\",\"model\":\"gpt-4.1\",\"usage\":{\"input_tokens\":10,"
      "\"output_tokens\":20,\"total_tokens\":30}}}\n\n";
  const UsageResult exact = read(info, "text/event-stream", completed);
  ASSERT_EQ(exact.status, UsageStatus::Reported);
  EXPECT_FALSE(backgroundSettlement(p, info, exact).has_value());
}

// A reservation bounded also at a model the request was answered as (ServedModelMemory) is what
// the run is charged, at least: not the lower worst case at the request model's price alone.
TEST(BackgroundSettlement, AReservationBoundedAtAnAnsweredModelIsChargedInFull) {
  const Pricer p = pricer();
  const std::string body = R"({"model":"gpt-4o","input":"x","background":true,)"
                           R"("max_output_tokens":1000})";
  const RequestInfo info = classifyRequest(ProviderFormat::OpenAI, "/v1/responses", "", body);
  const std::vector<std::string> answered{"gpt-4o-2024-05-13"};
  const WorstCase reserved = p.worstCase(info, answered);
  ASSERT_GT(reserved.amount, p.worstCase(info).amount);
  UsageResult no_answer;
  no_answer.status = UsageStatus::Estimated;
  no_answer.estimated = true;
  const auto settled = backgroundSettlement(p, info, no_answer, &reserved);
  ASSERT_TRUE(settled.has_value());
  EXPECT_EQ(settled->cost.amount, reserved.amount);
  EXPECT_EQ(settled->result.usage.output_tokens, 1000);
}

// No answer at all (504, or the client left before the head): the run may be queued anyway.
TEST(BackgroundSettlement, NoAnswerIsChargedTheWorstCaseARefusalNothing) {
  const Pricer p = pricer();
  const RequestInfo info =
      classifyRequest(ProviderFormat::OpenAI, "/v1/responses", "", kBackground);
  UsageResult no_answer;  // what the proxy settles when the upstream took the prompt, then nothing
  no_answer.status = UsageStatus::Estimated;
  no_answer.estimated = true;
  no_answer.usage.input_tokens = 20;
  ASSERT_TRUE(backgroundSettlement(p, info, no_answer).has_value());
  EXPECT_EQ(backgroundSettlement(p, info, no_answer)->cost.amount, p.worstCase(info).amount);

  // A 4xx/5xx answer started no run; nor did a request that never reached the upstream.
  const UsageResult refused =
      read(info, "application/json", R"({"error":{"type":"invalid_request_error"}})", 400);
  ASSERT_EQ(refused.status, UsageStatus::NotBillable);
  EXPECT_FALSE(backgroundSettlement(p, info, refused).has_value());
  EXPECT_FALSE(backgroundSettlement(p, info, UsageResult{}).has_value());
}

// Only background Responses calls: a foreground one keeps its estimate, as does any other API.
TEST(BackgroundSettlement, ForegroundAndOtherApisKeepTheirResult) {
  const Pricer p = pricer();
  const RequestInfo foreground = classifyRequest(ProviderFormat::OpenAI, "/v1/responses", "",
                                                 R"({"model":"gpt-4.1","input":"x"})");
  EXPECT_FALSE(backgroundSettlement(p, foreground, read(foreground, "application/json", kQueued))
                   .has_value());
  const RequestInfo chat = classifyRequest(ProviderFormat::OpenAI, "/v1/chat/completions", "",
                                           R"({"model":"gpt-4.1","background":true})");
  EXPECT_TRUE(chat.background);
  EXPECT_FALSE(
      backgroundSettlement(p, chat, read(chat, "application/json", R"({"id":"x"})")).has_value());
}

// unknown_model: allow reserves nothing for an unpriced model; the answer's model may still price
// the run, at the request's cap (else the default maximum output).
TEST(BackgroundSettlement, AnUnpricedRequestModelIsPricedByTheAnswersModel) {
  const Pricer p = pricer(UnknownModelPolicy::Kind::Allow);
  const std::string body = R"({"model":"my-alias","input":"x","background":true,)"
                           R"("max_output_tokens":100})";
  const RequestInfo info = classifyRequest(ProviderFormat::OpenAI, "/v1/responses", "", body);
  const auto settled = backgroundSettlement(p, info, read(info, "application/json", kQueued));
  ASSERT_TRUE(settled.has_value());
  EXPECT_EQ(settled->result.usage.output_tokens, 100);
  EXPECT_EQ(settled->cost.amount,
            static_cast<Picodollars>(body.size()) * 2'000'000 + Picodollars{100} * 8'000'000);
}

}  // namespace
}  // namespace spendgate::core
