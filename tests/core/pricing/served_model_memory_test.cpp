#include "core/pricing/served_model_memory.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "tests/core/test_catalog.hpp"

namespace spendgate::core {
namespace {

Pricer pricer(UnknownModelPolicy::Kind kind = UnknownModelPolicy::Kind::Reject) {
  UnknownModelPolicy policy;
  policy.kind = kind;
  policy.rates.input = 1'000'000;   // 1.00 USD / 1M
  policy.rates.output = 2'000'000;  // 2.00 USD / 1M
  return Pricer(testing::testCatalog(), policy);
}

RequestInfo chat(std::string model, std::int64_t body_bytes = 100, std::int64_t max_tokens = 1000) {
  RequestInfo req;
  req.kind = EndpointKind::ChatCompletions;
  req.requested_model = std::move(model);
  req.request_body_bytes = body_bytes;
  req.max_output_tokens = max_tokens;
  return req;
}

/** The cost of an answer naming `answered`, as the session prices it. */
Cost answer(const Pricer& p, const RequestInfo& req, std::string answered) {
  Usage usage;
  usage.model = std::move(answered);
  usage.input_tokens = 9;
  usage.output_tokens = 1000;
  usage.reported = true;
  return p.cost(usage, req.requested_model);
}

// gpt-4o: 2.50 in / 10.00 out per 1M; gpt-4o-2024-05-13: 5.00 / 15.00 (picodollars per token).
constexpr Picodollars kAliasWorst = Picodollars{100} * 2'500'000 + Picodollars{1000} * 10'000'000;
constexpr Picodollars kSnapshotWorst =
    Picodollars{100} * 5'000'000 + Picodollars{1000} * 15'000'000;

TEST(PricerWorstCase, AnAnsweredModelRaisesEachRateToTheDearerOfBoth) {
  const Pricer p = pricer();
  const RequestInfo req = chat("gpt-4o");
  EXPECT_EQ(p.worstCase(req).amount, kAliasWorst);
  EXPECT_EQ(p.worstCase(req).input_rate, 2'500'000);
  EXPECT_EQ(p.worstCase(req).output_rate, 10'000'000);

  const std::vector<std::string> answered{"gpt-4o-2024-05-13"};
  const WorstCase w = p.worstCase(req, answered);
  EXPECT_EQ(w.amount, kSnapshotWorst);
  EXPECT_EQ(w.input_rate, 5'000'000);
  EXPECT_EQ(w.output_rate, 15'000'000);
  // The output bound stays the request's, the source the request model's.
  EXPECT_EQ(w.output_tokens_bound, 1000);
  EXPECT_EQ(w.price_source, "catalog:exact-request");

  // Per rate: gpt-4.1 (2.00 / 8.00) is cheaper on both, so it changes nothing; a name the catalog
  // lacks counts nothing.
  const std::vector<std::string> cheaper{"gpt-4.1", "no-such-model"};
  EXPECT_EQ(p.worstCase(req, cheaper).amount, kAliasWorst);
  // claude-opus-4-1 (15 in, explicit 2x cache write = 30; 75 out) is dearer on both.
  const std::vector<std::string> mixed{"gpt-4.1", "claude-opus-4-1"};
  EXPECT_EQ(p.worstCase(req, mixed).amount,
            Picodollars{100} * 30'000'000 + Picodollars{1000} * 75'000'000);
}

TEST(PricerWorstCase, AnAnsweredModelIsPricedAtTheRequestedTier) {
  const Pricer p = pricer();
  RequestInfo req = chat("gpt-4o");
  req.service_tier = "priority";  // gpt-4o priority: 4.25 / 17.00; the snapshot has no tiers
  const std::vector<std::string> answered{"gpt-4o-2024-05-13"};
  const WorstCase w = p.worstCase(req, answered);
  EXPECT_EQ(w.input_rate, 5'000'000);
  EXPECT_EQ(w.output_rate, 17'000'000);
}

TEST(PricerWorstCase, AnUnpricedRequestStaysUnpriced) {
  const std::vector<std::string> answered{"gpt-4o-2024-05-13"};
  const WorstCase w = pricer(UnknownModelPolicy::Kind::Allow).worstCase(chat("acme"), answered);
  EXPECT_FALSE(w.priced);
  EXPECT_EQ(w.amount, 0);
  // Under unknown_model: price the policy rates are raised like a catalog entry's.
  const WorstCase priced =
      pricer(UnknownModelPolicy::Kind::Price).worstCase(chat("acme"), answered);
  EXPECT_EQ(priced.amount, kSnapshotWorst);
}

TEST(ServedModelMemory, LearnsAnAnswerPricedAboveTheWorstCaseAndBoundsLaterRequestsAtIt) {
  const Pricer p = pricer();
  ServedModelMemory memory;
  const RequestInfo req = chat("gpt-4o");
  const WorstCase first = memory.worstCase(p, "azure", req);
  EXPECT_EQ(first.amount, kAliasWorst);

  const Cost cost = answer(p, req, "gpt-4o-2024-05-13");
  ASSERT_EQ(cost.price_source, "catalog:exact-response");
  // The audit's case: this one call settles above what it reserved (documented).
  EXPECT_GT(cost.amount, first.amount);
  EXPECT_EQ(memory.learn(p, "azure", req, first, cost), ServedModelMemory::Learned::Added);
  EXPECT_EQ(memory.size(), 1u);

  const WorstCase later = memory.worstCase(p, "azure", req);
  EXPECT_EQ(later.amount, kSnapshotWorst);
  EXPECT_GE(later.amount, answer(p, req, "gpt-4o-2024-05-13").amount);
  // Known now: the next such answer is within its worst case and learns nothing.
  EXPECT_EQ(memory.learn(p, "azure", req, later, cost), ServedModelMemory::Learned::Nothing);
  // Even against a worst case priced before it was learned (another request in flight then).
  EXPECT_EQ(memory.learn(p, "azure", req, first, cost), ServedModelMemory::Learned::Nothing);
  EXPECT_EQ(memory.size(), 1u);

  // Per provider and per request model.
  EXPECT_EQ(memory.worstCase(p, "openai", req).amount, kAliasWorst);
  EXPECT_EQ(memory.worstCase(p, "azure", chat("gpt-4o-mini")).amount,
            p.worstCase(chat("gpt-4o-mini")).amount);
}

TEST(ServedModelMemory, LearnsNothingFromAnswersPricedWithinTheWorstCase) {
  const Pricer p = pricer();
  ServedModelMemory memory;
  // The answer names the request's own entry, a dated name the catalog lacks (priced by the
  // request's name, exact-request), a cheaper entry, nothing, or a model the catalog lacks.
  for (const char* answered : {"gpt-4o", "gpt-4o-2024-08-06", "gpt-4o-mini", "", "acme-unknown"}) {
    const RequestInfo req = chat("gpt-4o");
    const WorstCase worst = memory.worstCase(p, "openai", req);
    EXPECT_EQ(memory.learn(p, "openai", req, worst, answer(p, req, answered)),
              ServedModelMemory::Learned::Nothing)
        << answered;
  }
  // An identically priced snapshot (claude-sonnet-4-5-20250929) is not dearer.
  const RequestInfo sonnet = chat("claude-sonnet-4-5");
  EXPECT_EQ(memory.learn(p, "anthropic", sonnet, memory.worstCase(p, "anthropic", sonnet),
                         answer(p, sonnet, "claude-sonnet-4-5-20250929")),
            ServedModelMemory::Learned::Nothing);
  // An unpriced request (unknown_model: allow) learns nothing either.
  const Pricer allow = pricer(UnknownModelPolicy::Kind::Allow);
  const RequestInfo acme = chat("acme");
  EXPECT_EQ(memory.learn(allow, "openai", acme, allow.worstCase(acme),
                         answer(allow, acme, "gpt-4o-2024-05-13")),
            ServedModelMemory::Learned::Nothing);
  EXPECT_EQ(memory.size(), 0u);
}

TEST(ServedModelMemory, KeepsEveryDearerAnswerSoTheBoundIsTheDearestOfEach) {
  const Pricer p = pricer();
  ServedModelMemory memory;
  const RequestInfo req = chat("gpt-4o-mini");
  // First answered as gpt-4o (2.50 / 10), then as the 05-13 snapshot (5 / 15): both kept.
  EXPECT_EQ(
      memory.learn(p, "router", req, memory.worstCase(p, "router", req), answer(p, req, "gpt-4o")),
      ServedModelMemory::Learned::Added);
  EXPECT_EQ(memory.worstCase(p, "router", req).amount, kAliasWorst);
  EXPECT_EQ(memory.learn(p, "router", req, memory.worstCase(p, "router", req),
                         answer(p, req, "gpt-4o-2024-05-13")),
            ServedModelMemory::Learned::Added);
  EXPECT_EQ(memory.worstCase(p, "router", req).amount, kSnapshotWorst);
  // A cheaper one than what is kept (gpt-4.1: 2 / 8) is within the bound: not kept.
  EXPECT_EQ(
      memory.learn(p, "router", req, memory.worstCase(p, "router", req), answer(p, req, "gpt-4.1")),
      ServedModelMemory::Learned::Nothing);
  EXPECT_EQ(memory.size(), 2u);
}

TEST(ServedModelMemory, StopsLearningWhenFullAndSaysSoOnce) {
  const Pricer p = pricer();
  ServedModelMemory memory(2);
  const auto learn = [&](const std::string& model) {
    const RequestInfo req = chat(model);
    return memory.learn(p, "router", req, memory.worstCase(p, "router", req),
                        answer(p, req, "gpt-4o-2024-05-13"));
  };
  EXPECT_EQ(learn("gpt-4o"), ServedModelMemory::Learned::Added);
  EXPECT_EQ(learn("gpt-4o-mini"), ServedModelMemory::Learned::Added);
  EXPECT_EQ(learn("gpt-4.1"), ServedModelMemory::Learned::Full);
  EXPECT_EQ(learn("gpt-3.5-turbo-instruct"), ServedModelMemory::Learned::Nothing);
  EXPECT_EQ(memory.size(), 2u);
  // What is kept still counts; what was not, is not.
  EXPECT_EQ(memory.worstCase(p, "router", chat("gpt-4o")).amount, kSnapshotWorst);
  EXPECT_EQ(memory.worstCase(p, "router", chat("gpt-4.1")).amount,
            p.worstCase(chat("gpt-4.1")).amount);
}

TEST(ServedModelMemory, SurvivesACatalogWhereTheAnsweredModelIsNoLongerDearer) {
  ServedModelMemory memory;
  const Pricer before = pricer();
  const RequestInfo req = chat("gpt-4o");
  ASSERT_EQ(memory.learn(before, "azure", req, memory.worstCase(before, "azure", req),
                         answer(before, req, "gpt-4o-2024-05-13")),
            ServedModelMemory::Learned::Added);
  // A reload whose catalog prices the snapshot below the alias: the name is kept, but the
  // dearer-of-both rule makes it count for nothing; one without the snapshot, the same.
  PriceCatalog cheaper = testing::testCatalog();
  ModelPrice snapshot;
  snapshot.rates = {1'000'000, std::nullopt, std::nullopt, std::nullopt,
                    2'000'000, std::nullopt, std::nullopt};
  cheaper.set("gpt-4o-2024-05-13", snapshot);
  const Pricer after(std::move(cheaper), UnknownModelPolicy{});
  EXPECT_EQ(memory.worstCase(after, "azure", req).amount, kAliasWorst);
}

TEST(ServedModelMemory, ConcurrentLearnersKeepOneEntryAndReportItOnce) {
  const Pricer p = pricer();
  ServedModelMemory memory;
  const RequestInfo req = chat("gpt-4o");
  const WorstCase worst = p.worstCase(req);
  const Cost cost = answer(p, req, "gpt-4o-2024-05-13");
  std::atomic<int> added{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 200; ++j) {
        if (memory.learn(p, "azure", req, worst, cost) == ServedModelMemory::Learned::Added) {
          ++added;
        }
        EXPECT_GE(memory.worstCase(p, "azure", req).amount, kAliasWorst);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(added.load(), 1);
  EXPECT_EQ(memory.size(), 1u);
}

}  // namespace
}  // namespace spendgate::core
