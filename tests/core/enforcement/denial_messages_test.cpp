#include "core/enforcement/denial_messages.hpp"

#include <gtest/gtest.h>

#include "tests/core/manual_clock.hpp"

namespace spendgate::core {
namespace {

using testing::utc;
using namespace std::chrono_literals;
constexpr Picodollars kUsd = kPicodollarsPerUsd;

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

TEST(DenialMessages, ReasonNamesMatchSpec) {
  EXPECT_EQ(denialReasonName(DenialReason::EmergencyStop), "emergency_stop");
  EXPECT_EQ(denialReasonName(DenialReason::UnknownKey), "unknown_key");
  EXPECT_EQ(denialReasonName(DenialReason::RequestCost), "request_cost");
  EXPECT_EQ(denialReasonName(DenialReason::RateLimit), "rate_limit");
  EXPECT_EQ(denialReasonName(DenialReason::Budget), "budget");
  EXPECT_EQ(denialReasonName(DenialReason::StoreUnavailable), "store_unavailable");
  EXPECT_EQ(denialReasonName(DenialReason::UnknownModel), "unknown_model");
}

// The advice names the output cap of the caller's API: "max_tokens" means nothing to a Gemini
// or Responses client.
TEST(DenialMessages, RequestCostNamesTheCallersOutputCap) {
  auto message = [](OutputCap cap) { return requestCostDenial(2 * kUsd, kUsd, cap).message; };
  const std::string gemini = message({"generationConfig.maxOutputTokens", true});
  EXPECT_TRUE(contains(gemini, "Lower generationConfig.maxOutputTokens or send less input."))
      << gemini;
  EXPECT_FALSE(contains(gemini, "max_tokens")) << gemini;
  const std::string responses = message({"max_output_tokens", true});
  EXPECT_TRUE(contains(responses, "Lower max_output_tokens or send less input.")) << responses;
  EXPECT_TRUE(contains(message({"max_tokens", true}), "Lower max_tokens or"));
  const std::string unset = message({"max_completion_tokens", false});
  EXPECT_TRUE(contains(unset, "Set max_completion_tokens (without it the model's maximum output"))
      << unset;
  const std::string embeddings = message({});
  EXPECT_TRUE(contains(embeddings, "(request_limits.max_cost_usd). Send less input."))
      << embeddings;
  EXPECT_FALSE(contains(embeddings, "max_tokens")) << embeddings;
}

TEST(DenialMessages, BudgetNamesRuleSubjectSpendLimitAndReset) {
  BudgetCharge b;
  b.name = "team-daily";
  b.scope = Scope::Team;
  b.subject = "search";
  b.period = Period::Day;
  b.window = periodWindow(Period::Day, utc(2026, 3, 1, 18));
  b.limit = 500 * kUsd;
  b.amount = 9 * kUsd / 10;
  const Denial d = budgetDenial(b, 49920 * kUsd / 100, kUsd / 2, utc(2026, 3, 1, 18));
  EXPECT_EQ(d.reason, DenialReason::Budget);
  EXPECT_EQ(d.rule, "team-daily");
  EXPECT_FALSE(d.should_retry);
  EXPECT_TRUE(contains(d.message, "\"team-daily\" (team search)")) << d.message;
  EXPECT_TRUE(contains(d.message, "$499.2 spent")) << d.message;
  EXPECT_TRUE(contains(d.message, "$0.5 reserved")) << d.message;
  EXPECT_TRUE(contains(d.message, "$500 limit")) << d.message;
  EXPECT_TRUE(contains(d.message, "up to $0.9")) << d.message;
  EXPECT_TRUE(contains(d.message, "2026-03-02T00:00:00Z")) << d.message;
  ASSERT_TRUE(d.retry_after);
  EXPECT_EQ(*d.retry_after, std::chrono::milliseconds(6h));
  EXPECT_EQ(d.retryAfterSeconds(), 6 * 3600);
}

TEST(DenialMessages, BudgetWithRoomLeftSaysTheWorstCaseDoesNotFitNotUsedUp) {
  BudgetCharge b;
  b.name = "tiny";
  b.period = Period::Day;
  b.window = periodWindow(Period::Day, utc(2026, 3, 1, 18));
  b.limit = kUsd / 10000;
  b.amount = 5 * kUsd / 10000;
  const Denial d = budgetDenial(b, 0, 0, utc(2026, 3, 1, 18));
  EXPECT_EQ(d.message,
            "Budget \"tiny\" cannot take this request for this day: its worst case, up to "
            "$0.0005, does not fit in the $0.0001 that remains ($0 spent of the $0.0001 limit). "
            "It resets at 2026-03-02T00:00:00Z.");
  // Spent plus reserved at the limit: that is used up.
  const Denial full = budgetDenial(b, kUsd / 20000, kUsd / 20000, utc(2026, 3, 1, 18));
  EXPECT_EQ(full.message,
            "Budget \"tiny\" is used up for this day: $0.00005 spent and $0.00005 reserved by "
            "requests in flight of the $0.0001 limit, and this request could cost up to "
            "$0.0005. It resets at 2026-03-02T00:00:00Z.");
}

TEST(DenialMessages, UnpricedRequestOnAUsedUpBudgetSaysItCannotBePriced) {
  BudgetCharge b;
  b.name = "org";
  b.period = Period::Day;
  b.window = periodWindow(Period::Day, utc(2026, 3, 1, 18));
  b.limit = kUsd;
  b.amount = kUnpricedAmount;
  b.unpriced = true;
  const Denial d = budgetDenial(b, kUsd, 0, utc(2026, 3, 1, 18));
  EXPECT_EQ(d.message,
            "Budget \"org\" is used up for this day: $1 spent of the $1 limit. spendgate cannot "
            "price this endpoint, so it forwards it only while the budget has something left. It "
            "resets at 2026-03-02T00:00:00Z.");
  EXPECT_FALSE(d.should_retry);
}

TEST(DenialMessages, TotalBudgetNeverResets) {
  BudgetCharge b;
  b.name = "lifetime";
  b.period = Period::Total;
  b.window = periodWindow(Period::Total, utc(2026, 1, 1));
  b.limit = kUsd;
  const Denial d = budgetDenial(b, kUsd, 0, utc(2026, 1, 1));
  EXPECT_FALSE(d.retry_after);
  EXPECT_FALSE(contains(d.message, "reserved"));
  EXPECT_TRUE(contains(d.message, "does not reset")) << d.message;
}

TEST(DenialMessages, MissingSubjectIsSpelledOut) {
  BudgetCharge b;
  b.name = "per-user";
  b.scope = Scope::User;
  b.subject = "-";
  b.window = periodWindow(Period::Day, utc(2026, 1, 1));
  EXPECT_TRUE(contains(budgetDenial(b, 0, 0, utc(2026, 1, 1)).message, "(no user)"));
}

TEST(DenialMessages, RateLimits) {
  RateCharge c;
  c.name = "per-key";
  c.scope = Scope::Key;
  c.subject = "search-team";
  c.requests_per_minute = 60;
  c.tokens_per_minute = 90000;
  c.concurrent = 4;
  c.tokens = 120000;
  RateLimitHeaders headers;
  headers.requests = RateLimitStatus{60, 0, 60s};
  const Denial requests = rateLimitDenial(c, RateLimitKind::Requests, 1500, headers);
  EXPECT_EQ(requests.reason, DenialReason::RateLimit);
  EXPECT_TRUE(requests.should_retry);
  EXPECT_EQ(requests.retry_after, std::chrono::milliseconds(1500));
  EXPECT_EQ(requests.retryAfterSeconds(), 2);
  EXPECT_EQ(requests.rate_limits, headers);
  EXPECT_TRUE(contains(requests.message, "60 requests per minute")) << requests.message;
  EXPECT_TRUE(contains(requests.message, "(key search-team)")) << requests.message;
  EXPECT_TRUE(contains(requests.message, "Retry in 1.5s")) << requests.message;

  const Denial never = rateLimitDenial(c, RateLimitKind::Tokens, std::nullopt, headers);
  EXPECT_FALSE(never.should_retry);
  ASSERT_TRUE(never.retry_after);  // every rate_limit answer has one: the window
  EXPECT_EQ(*never.retry_after, std::chrono::minutes{1});
  EXPECT_EQ(never.retryAfterSeconds(), 60);
  EXPECT_TRUE(contains(never.message, "120000 tokens")) << never.message;
  EXPECT_TRUE(contains(never.message, "Send less input.")) << never.message;  // no cap given
  const Denial capped = rateLimitDenial(c, RateLimitKind::Tokens, std::nullopt, headers,
                                        OutputCap{"max_output_tokens", true});
  EXPECT_TRUE(contains(capped.message, "Lower max_output_tokens or send less input."))
      << capped.message;

  const Denial concurrent = rateLimitDenial(c, RateLimitKind::Concurrent, 1000, {});
  EXPECT_TRUE(contains(concurrent.message, "4 concurrent")) << concurrent.message;
  EXPECT_EQ(concurrent.retryAfterSeconds(), 1);
}

TEST(DenialMessages, RetryAfterSecondsIsAtLeastOne) {
  Denial d;
  d.retry_after = std::chrono::milliseconds(1);
  EXPECT_EQ(d.retryAfterSeconds(), 1);
  d.retry_after = std::chrono::milliseconds(0);
  EXPECT_EQ(d.retryAfterSeconds(), 1);
  d.retry_after = std::chrono::milliseconds(2001);
  EXPECT_EQ(d.retryAfterSeconds(), 3);
}

TEST(DenialMessages, MissingKeySaysNoneWasSentAndWhereItGoes) {
  for (auto [format, where] : {std::pair{ProviderFormat::OpenAI, "Authorization: Bearer"},
                               std::pair{ProviderFormat::Anthropic, "x-api-key"},
                               std::pair{ProviderFormat::Gemini, "x-goog-api-key"},
                               std::pair{ProviderFormat::Azure, "api-key"}}) {
    const Denial d = unknownKeyDenial(UnknownKeyCause::Missing, format);
    EXPECT_EQ(d.reason, DenialReason::UnknownKey);
    EXPECT_TRUE(contains(d.message, "no API key was sent")) << d.message;
    EXPECT_TRUE(contains(d.message, where)) << d.message;
    EXPECT_FALSE(contains(d.message, "not a spendgate virtual key")) << d.message;
  }
}

TEST(DenialMessages, ConflictingKeysSayTheVirtualKeyMustComeAlone) {
  const Denial d = unknownKeyDenial(UnknownKeyCause::Conflicting, ProviderFormat::Anthropic);
  EXPECT_EQ(d.reason, DenialReason::UnknownKey);
  EXPECT_TRUE(contains(d.message, "virtual key and a different credential")) << d.message;
  EXPECT_TRUE(contains(d.message, "not forwarded")) << d.message;
}

TEST(DenialMessages, AStrayKeySaysWhereKeysAreRead) {
  const Denial d = unknownKeyDenial(UnknownKeyCause::Stray, ProviderFormat::Gemini);
  EXPECT_EQ(d.reason, DenialReason::UnknownKey);
  EXPECT_TRUE(contains(d.message, "outside the places keys are read from")) << d.message;
  EXPECT_TRUE(contains(d.message, "not forwarded")) << d.message;
}

TEST(DenialMessages, Others) {
  EXPECT_EQ(unknownKeyDenial(UnknownKeyCause::NotVirtual).reason, DenialReason::UnknownKey);
  EXPECT_TRUE(contains(unknownModelDenial("gpt-9").message, "\"gpt-9\""));
  EXPECT_EQ(storeUnavailableDenial().reason, DenialReason::StoreUnavailable);
  EXPECT_EQ(formatUtcSeconds(utc(2024, 2, 29, 7, 5, 9, 999)), "2024-02-29T07:05:09Z");
}

TEST(DenialMessages, UnknownModelFromAnAzureDeploymentNamesTheDeploymentsMap) {
  const auto plain = unknownModelDenial("gpt-9").message;
  EXPECT_TRUE(contains(plain, "pricing.models")) << plain;
  EXPECT_FALSE(contains(plain, "deployments")) << plain;

  const auto deployment = unknownModelDenial("my-dep", "my-dep", "azure").message;
  EXPECT_TRUE(contains(deployment, "\"my-dep\" has no price")) << deployment;
  EXPECT_TRUE(contains(deployment, "map it under providers.azure.deployments (my-dep: <model>)"))
      << deployment;

  // Mapped to a model that has no price: the map was used, the model is what needs a price.
  const auto mapped = unknownModelDenial("gpt-9", "my-dep", "azure").message;
  EXPECT_FALSE(contains(mapped, "deployments")) << mapped;
}

TEST(DenialMessages, AModelThatCannotBeToldSaysWhy) {
  const auto unreadable = modelProblemDenial(ModelProblem::UnreadableBody);
  EXPECT_EQ(unreadable.reason, DenialReason::UnknownModel);
  EXPECT_TRUE(contains(unreadable.message, "not JSON spendgate can read")) << unreadable.message;
  EXPECT_TRUE(contains(unreadable.message, "cannot be bounded")) << unreadable.message;
  EXPECT_TRUE(contains(unreadable.message, "1024 levels")) << unreadable.message;
  EXPECT_TRUE(contains(unreadable.message, "BOM")) << unreadable.message;
  EXPECT_TRUE(contains(unreadable.message, "\\udead")) << unreadable.message;
  EXPECT_TRUE(contains(unreadable.message, "pricing.unknown_model")) << unreadable.message;

  const auto none = modelProblemDenial(ModelProblem::NoModel);
  EXPECT_EQ(none.reason, DenialReason::UnknownModel);
  EXPECT_TRUE(contains(none.message, "names no model")) << none.message;
  EXPECT_TRUE(contains(none.message, "\"model\" is missing, not a string or empty"))
      << none.message;
  EXPECT_TRUE(
      contains(modelProblemDenial(ModelProblem::NoModel, false).message, "its path has none"));
}

}  // namespace
}  // namespace spendgate::core
