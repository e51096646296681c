#pragma once

// The counter-store contract: every scenario, written once, runs against each store. Included by
// tests/core/store/counter_store_contract_test.cpp (memory, and the Lua scripts on a real
// redis-server) and tests/proxy/store/leasing_contract_test.cpp (LeasingCounterStore around
// RedisCounterStore); each defines makeContractStore() and instantiates the suite.
// Header-only: tests/CMakeLists.txt builds only *_test.cpp files.

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <random>

#include "core/enforcement/emergency_stop.hpp"
#include "tests/core/store/store_test_support.hpp"

namespace spendgate::core::testing {

/** A store under the contract. */
struct ContractStore {
  /** Keeps what the store needs alive (loops, connections); released after the store. */
  std::shared_ptr<void> owner;
  /** Completes every call before it returns (StoreDriver); null: skip (no redis-server). */
  std::shared_ptr<CounterStore> store;
  /** LeasingCounterStore: the documented differences apply (docs/store.md "Leased slices"). */
  bool leases = false;
  /**
   * Called after a scenario moved the clock: the leasing store flushes, as its timer would have
   * meanwhile (else a slice not renewed for the lease ttl lapses, which needs an outage).
   */
  std::function<void()> tick = [] {};
};

/** Defined by each test binary that includes this header. `clock` outlives the store. */
ContractStore makeContractStore(const std::string& kind, ManualClock& clock);

namespace {

using namespace std::chrono_literals;
using Status = AdmissionResult::Status;

class CounterStoreContract : public ::testing::TestWithParam<std::string> {
protected:
  void SetUp() override {
    contract_ = makeContractStore(GetParam(), clock_);
    store_ = contract_.store;
    if (!store_) GTEST_SKIP() << "redis-server not available";
    driver_ = std::make_unique<StoreDriver>(*store_);
  }

  /** docs/store.md "Leased slices": where the leasing store legitimately differs. */
  bool leases() const { return contract_.leases; }

  std::chrono::system_clock::time_point now() const { return clock_.now(); }

  EnforcementPlan planFor(Picodollars worst,
                          std::int64_t tokens = 0,
                          RequestAttributes a = caller()) {
    return plan(rules_, a, worst, tokens, now());
  }

  AdmissionResult admit(const std::string& id,
                        Picodollars worst,
                        std::int64_t tokens = 0,
                        std::chrono::milliseconds ttl = 10min) {
    return driver_->admit(planFor(worst, tokens), id, now() + ttl);
  }

  SettleResult settle(const std::string& id, Picodollars cost, std::int64_t tokens = 0) {
    return driver_->settle(id, cost, tokens, now());
  }

  BudgetSnapshot counter(const std::string& name, const std::string& subject = "") {
    return driver_->counter(name, subject, now());
  }

  ManualClock clock_{utc(2026, 3, 10, 12, 0, 0)};
  Rules rules_;
  ContractStore contract_;
  std::shared_ptr<CounterStore> store_;
  std::unique_ptr<StoreDriver> driver_;
};

TEST_P(CounterStoreContract, ReservesWorstCaseAndSettlesLower) {
  rules_.budgets = {hardBudget("daily", 10 * kUsd)};
  ASSERT_TRUE(admit("r1", 3 * kUsd).allowed());
  BudgetSnapshot c = counter("daily");
  EXPECT_EQ(c.spent, 0);
  EXPECT_EQ(c.reserved, 3 * kUsd);
  EXPECT_EQ(c.limit, 10 * kUsd);
  EXPECT_EQ(c.window.start, utc(2026, 3, 10));
  EXPECT_EQ(c.window.end, utc(2026, 3, 11));
  EXPECT_EQ(c.counter_key, "budget:daily::" + std::to_string(unixSeconds(utc(2026, 3, 10))));

  const SettleResult s = settle("r1", kUsd + 1);
  EXPECT_EQ(s.outcome, SettleOutcome::Settled);
  ASSERT_EQ(s.budgets.size(), 1u);
  EXPECT_EQ(s.budgets[0].spent, kUsd + 1);
  EXPECT_EQ(s.budgets[0].reserved, 0);
  EXPECT_EQ(counter("daily"), s.budgets[0]);
}

TEST_P(CounterStoreContract, SettleHigherThanReservedCountsTheRealCost) {
  rules_.budgets = {hardBudget("daily", 10 * kUsd)};
  ASSERT_TRUE(admit("r1", 3 * kUsd).allowed());
  settle("r1", 8 * kUsd);
  EXPECT_EQ(counter("daily").spent, 8 * kUsd);
  EXPECT_EQ(counter("daily").reserved, 0);
  EXPECT_TRUE(admit("r2", 2 * kUsd).allowed());  // 8 + 2 <= 10
  EXPECT_FALSE(admit("r3", 1).allowed());        // 8 + 2 + tiny > 10
}

TEST_P(CounterStoreContract, SettleIsIdempotent) {
  rules_.budgets = {hardBudget("daily", 10 * kUsd)};
  ASSERT_TRUE(admit("r1", 3 * kUsd).allowed());
  EXPECT_EQ(settle("r1", 2 * kUsd).outcome, SettleOutcome::Settled);
  const SettleResult again = settle("r1", 2 * kUsd);
  EXPECT_EQ(again.outcome, SettleOutcome::AlreadySettled);
  EXPECT_TRUE(again.budgets.empty());
  EXPECT_EQ(counter("daily").spent, 2 * kUsd);
  EXPECT_EQ(counter("daily").reserved, 0);
  EXPECT_EQ(settle("never-admitted", kUsd).outcome, SettleOutcome::UnknownReservation);
  EXPECT_EQ(counter("daily").spent, 2 * kUsd);
}

// Its instance may have crashed after the provider billed it: the hard cap must still hold.
TEST_P(CounterStoreContract, ExpiredReservationIsChargedAsSpentUntilItsLateSettle) {
  rules_.budgets = {hardBudget("daily", 10 * kUsd)};
  ASSERT_TRUE(admit("crashed", 6 * kUsd, 0, 1min).allowed());
  EXPECT_FALSE(admit("r2", 6 * kUsd).allowed());
  clock_.advance(1min - 1ms);
  EXPECT_FALSE(admit("r3", 6 * kUsd).allowed());
  clock_.advance(1ms);  // expires_at reached: the worst case moves from reserved to spent
  EXPECT_FALSE(admit("r4", 6 * kUsd).allowed());
  EXPECT_EQ(counter("daily").spent, 6 * kUsd);
  EXPECT_EQ(counter("daily").reserved, 0);
  EXPECT_TRUE(admit("r5", 4 * kUsd).allowed());  // 6 + 4 <= 10
  // A late settle replaces the charged worst case with what was really spent, once.
  const SettleResult late = settle("crashed", kUsd);
  EXPECT_EQ(late.outcome, SettleOutcome::SettledAfterExpiry);
  EXPECT_EQ(counter("daily").spent, kUsd);
  EXPECT_EQ(counter("daily").reserved, 4 * kUsd);
  EXPECT_EQ(settle("crashed", kUsd).outcome, SettleOutcome::AlreadySettled);
  EXPECT_EQ(counter("daily").spent, kUsd);
  EXPECT_TRUE(admit("r6", 5 * kUsd).allowed());  // 1 + 4 + 5 <= 10
}

// A settle that finds its reservation past expiry (not swept yet) counts the real cost only.
TEST_P(CounterStoreContract, SettleJustAfterExpiryCountsTheRealCostOnly) {
  rules_.budgets = {hardBudget("daily", 10 * kUsd)};
  ASSERT_TRUE(admit("slow", 6 * kUsd, 0, 1min).allowed());
  clock_.advance(1min);
  EXPECT_EQ(settle("slow", 2 * kUsd).outcome, SettleOutcome::SettledAfterExpiry);
  EXPECT_EQ(counter("daily").spent, 2 * kUsd);
  EXPECT_EQ(counter("daily").reserved, 0);
}

TEST_P(CounterStoreContract, HardBudgetStopsAtTheLimitExactly) {
  rules_.budgets = {hardBudget("daily", 10 * kUsd)};
  EXPECT_TRUE(admit("a", 4 * kUsd).allowed());
  EXPECT_TRUE(admit("b", 4 * kUsd).allowed());
  const AdmissionResult refused = admit("c", 4 * kUsd);
  ASSERT_EQ(refused.status, Status::Denied);
  ASSERT_TRUE(refused.denial);
  EXPECT_EQ(refused.denial->reason, DenialReason::Budget);
  EXPECT_EQ(refused.denial->rule, "daily");
  EXPECT_FALSE(refused.denial->should_retry);
  EXPECT_EQ(refused.denial->retry_after, std::chrono::milliseconds(12h));
  EXPECT_NE(refused.denial->message.find("$8 reserved"), std::string::npos)
      << refused.denial->message;
  EXPECT_TRUE(admit("d", 2 * kUsd).allowed());  // 8 + 2 == 10: allowed
  EXPECT_FALSE(admit("e", 1).allowed());
  EXPECT_EQ(counter("daily").reserved, 10 * kUsd);
}

// Images, audio...: nothing to reserve, but a used-up budget must not be bypassed through them.
TEST_P(CounterStoreContract, UnpricedRequestPassesWhileAnythingIsLeftAndSettlesAtZero) {
  rules_.budgets = {hardBudget("daily", 10 * kUsd)};
  const auto unpriced = [&](const std::string& id) {
    return driver_->admit(plan(rules_, caller(), 0, 0, now(), Spending::Unpriced), id,
                          now() + 10min);
  };
  EXPECT_TRUE(admit("a", 10 * kUsd - 1).allowed());
  EXPECT_TRUE(unpriced("img1").allowed());  // one picodollar left
  EXPECT_EQ(counter("daily").reserved, 10 * kUsd);
  const AdmissionResult refused = unpriced("img2");
  ASSERT_TRUE(refused.denial);
  EXPECT_EQ(refused.denial->reason, DenialReason::Budget);
  EXPECT_NE(refused.denial->message.find("cannot price this endpoint"), std::string::npos)
      << refused.denial->message;
  settle("img1", 0);
  settle("a", 10 * kUsd);
  EXPECT_EQ(counter("daily").spent, 10 * kUsd);
  EXPECT_EQ(counter("daily").reserved, 0);
  EXPECT_FALSE(unpriced("img3").allowed());  // spent out: refused
}

TEST_P(CounterStoreContract, SoftBudgetIsCountedNotEnforced) {
  BudgetRule soft = hardBudget("soft", kUsd);
  soft.mode = BudgetMode::Soft;
  rules_.budgets = {soft};
  ASSERT_TRUE(admit("a", 3 * kUsd).allowed());
  EXPECT_EQ(counter("soft").reserved, 0);
  EXPECT_EQ(counter("soft").mode, BudgetMode::Soft);
  const SettleResult s = settle("a", 2 * kUsd);
  ASSERT_EQ(s.budgets.size(), 1u);
  EXPECT_EQ(s.budgets[0].spent, 2 * kUsd);  // over its limit: alerts, no refusal
  EXPECT_TRUE(admit("b", 3 * kUsd).allowed());
}

TEST_P(CounterStoreContract, SeveralBudgetsAllOrNothing) {
  rules_.budgets = {hardBudget("org", 100 * kUsd), hardBudget("team", 5 * kUsd, Scope::Team),
                    hardBudget("user", 100 * kUsd, Scope::User)};
  rules_.rate_limits = {rateLimit("rpm", 100, 10000, 5)};
  ASSERT_TRUE(admit("first", 4 * kUsd, 100).allowed());
  settle("first", 4 * kUsd, 100);
  const BudgetSnapshot org_before = counter("org");
  const BudgetSnapshot user_before = counter("user", "alice");

  const AdmissionResult refused = admit("second", 3 * kUsd, 2000);
  ASSERT_TRUE(refused.denial);
  EXPECT_EQ(refused.denial->reason, DenialReason::Budget);
  EXPECT_EQ(refused.denial->rule, "team");
  EXPECT_NE(refused.denial->message.find("(team search)"), std::string::npos);
  EXPECT_NE(refused.denial->message.find("$4 spent"), std::string::npos) << refused.denial->message;
  // Nothing was reserved on the budgets that had room, and no rate limit was charged.
  EXPECT_EQ(counter("org"), org_before);
  EXPECT_EQ(counter("user", "alice"), user_before);
  EXPECT_EQ(counter("team", "search").reserved, 0);
  const AdmissionResult next = admit("third", kUsd, 100);
  ASSERT_TRUE(next.allowed());
  ASSERT_TRUE(next.rate_limits.requests);
  EXPECT_EQ(next.rate_limits.requests->remaining, 98u);  // first + third only
  ASSERT_TRUE(next.rate_limits.tokens);
  EXPECT_EQ(next.rate_limits.tokens->remaining, 9800u);
}

// Audit 17 F4: of several budgets that refuse, the first in config order was named, so a spent
// minute budget listed before a spent total one said "retry after 55 s" for a request that could
// never pass. The one that resets last is named, whatever the order.
TEST_P(CounterStoreContract, OfSeveralRefusingBudgetsTheOneThatResetsLastIsNamed) {
  for (const bool total_first : {false, true}) {
    SCOPED_TRACE(total_first ? "total first" : "minute first");
    // Names of their own each round: the total budget keeps what the round before spent.
    const std::string run = total_first ? "-t" : "-m";
    BudgetRule minute = hardBudget("minute" + run, 5 * kUsd, Scope::Global, Period::Minute);
    BudgetRule day = hardBudget("day" + run, 5 * kUsd, Scope::Global, Period::Day);
    BudgetRule lifetime = hardBudget("lifetime" + run, 5 * kUsd, Scope::Global, Period::Total);
    rules_.budgets =
        total_first ? std::vector{lifetime, day, minute} : std::vector{minute, day, lifetime};
    ASSERT_TRUE(admit("first" + run, 4 * kUsd).allowed());
    settle("first" + run, 4 * kUsd);
    const AdmissionResult refused = admit("second" + run, 3 * kUsd);
    ASSERT_TRUE(refused.denial);
    EXPECT_EQ(refused.denial->reason, DenialReason::Budget);
    EXPECT_EQ(refused.denial->rule, "lifetime" + run);
    EXPECT_FALSE(refused.denial->retry_after.has_value());
    // Without the total one, the day budget (it resets after the minute one) is named.
    rules_.budgets = total_first ? std::vector{day, minute} : std::vector{minute, day};
    const AdmissionResult day_refused = admit("third" + run, 3 * kUsd);
    ASSERT_TRUE(day_refused.denial);
    EXPECT_EQ(day_refused.denial->rule, "day" + run);
    ASSERT_TRUE(day_refused.denial->retry_after.has_value());
    EXPECT_GT(*day_refused.denial->retry_after, std::chrono::milliseconds(60000));
  }
}

TEST_P(CounterStoreContract, RateLimitRefusalChargesNothing) {
  rules_.budgets = {hardBudget("daily", 10 * kUsd)};
  rules_.rate_limits = {rateLimit("rpm", 1)};
  ASSERT_TRUE(admit("a", kUsd).allowed());
  const AdmissionResult refused = admit("b", kUsd);
  ASSERT_TRUE(refused.denial);
  EXPECT_EQ(refused.denial->reason, DenialReason::RateLimit);
  EXPECT_EQ(counter("daily").reserved, kUsd);
}

// SPEC §3: x-ratelimit-* wherever a rate limit applies, a budget refusal included; it reports
// the levels without the refused request (nothing was charged).
TEST_P(CounterStoreContract, BudgetRefusalCarriesTheRateLevels) {
  rules_.budgets = {hardBudget("daily", 3 * kUsd)};
  rules_.rate_limits = {rateLimit("rpm", 10, 1000)};
  ASSERT_TRUE(admit("a", 2 * kUsd, 100).allowed());
  const AdmissionResult refused = admit("b", 2 * kUsd, 100);
  ASSERT_TRUE(refused.denial);
  EXPECT_EQ(refused.denial->reason, DenialReason::Budget);
  ASSERT_TRUE(refused.rate_limits.requests);
  EXPECT_EQ(refused.rate_limits.requests->limit, 10u);
  EXPECT_EQ(refused.rate_limits.requests->remaining, 9u);
  ASSERT_TRUE(refused.rate_limits.tokens);
  EXPECT_EQ(refused.rate_limits.tokens->limit, 1000u);
  EXPECT_EQ(refused.rate_limits.tokens->remaining, 900u);
  EXPECT_EQ(refused.denial->rate_limits, refused.rate_limits);
  // Nothing charged: the next request that fits still sees 9 remaining before its own.
  const AdmissionResult next = admit("c", kUsd, 100);
  ASSERT_TRUE(next.allowed());
  ASSERT_TRUE(next.rate_limits.requests);
  EXPECT_EQ(next.rate_limits.requests->remaining, 8u);
}

TEST_P(CounterStoreContract, GcraBurstThenExactRetryAfter) {
  rules_.rate_limits = {rateLimit("per-key", 60, 0, 0, Scope::Key)};
  for (int i = 0; i < 60; ++i) {
    const AdmissionResult r = admit("b" + std::to_string(i), 0);
    ASSERT_TRUE(r.allowed()) << i;
    ASSERT_TRUE(r.rate_limits.requests);
    EXPECT_EQ(r.rate_limits.requests->limit, 60u);
    EXPECT_EQ(r.rate_limits.requests->remaining, static_cast<std::uint64_t>(59 - i));
  }
  const AdmissionResult refused = admit("over", 0);
  ASSERT_TRUE(refused.denial);
  EXPECT_EQ(refused.denial->reason, DenialReason::RateLimit);
  EXPECT_EQ(refused.denial->rule, "per-key");
  EXPECT_TRUE(refused.denial->should_retry);
  EXPECT_EQ(refused.denial->retry_after, std::chrono::milliseconds(1000));
  EXPECT_EQ(refused.denial->retryAfterSeconds(), 1);
  ASSERT_TRUE(refused.rate_limits.requests);
  EXPECT_EQ(refused.rate_limits.requests->remaining, 0u);
  EXPECT_EQ(refused.rate_limits.requests->reset, std::chrono::milliseconds(60000));

  clock_.advance(999ms);
  const AdmissionResult early = admit("early", 0);
  ASSERT_TRUE(early.denial);
  EXPECT_EQ(early.denial->retry_after, std::chrono::milliseconds(1));
  clock_.advance(1ms);  // exactly the advertised wait
  EXPECT_TRUE(admit("on-time", 0).allowed());
  EXPECT_FALSE(admit("again", 0).allowed());
}

TEST_P(CounterStoreContract, RateThatDoesNotDivideAMinute) {
  rules_.rate_limits = {rateLimit("seven", 7)};  // one per 8571.43 ms after the burst
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(admit("a" + std::to_string(i), 0).allowed());
  const AdmissionResult refused = admit("b", 0);
  ASSERT_TRUE(refused.denial);
  EXPECT_EQ(refused.denial->retry_after, std::chrono::milliseconds(8572));  // rounded up
  EXPECT_EQ(refused.denial->retryAfterSeconds(), 9);
  clock_.advance(8571ms);
  EXPECT_FALSE(admit("c", 0).allowed());
  clock_.advance(1ms);
  EXPECT_TRUE(admit("d", 0).allowed());
}

// Audit 17: a wall clock stepped back (NTP, an operator) held a full limit for the whole step (a
// 1 h step: an hour of 429s), each saying retry-after 1 s. Past gcra::kClockStepBackMs the
// bucket drains from the step on; within it, retry-after counts the wait until it drains again.
TEST_P(CounterStoreContract, AClockSteppedBackDrainsFromTheStepOn) {
  rules_.rate_limits = {rateLimit("rpm", 60)};
  const auto start = now();
  for (int i = 0; i < 60; ++i) ASSERT_TRUE(admit("a" + std::to_string(i), 0).allowed());
  clock_.set(start - 2h);
  contract_.tick();
  const AdmissionResult refused = admit("b", 0);
  ASSERT_TRUE(refused.denial);
  EXPECT_EQ(refused.denial->retry_after, std::chrono::milliseconds(1000));
  clock_.advance(1000ms);
  contract_.tick();
  EXPECT_TRUE(admit("c", 0).allowed());
  EXPECT_FALSE(admit("d", 0).allowed());
}

TEST_P(CounterStoreContract, AClockALittleBehindWaitsUntilTheBucketDrainsAgain) {
  rules_.rate_limits = {rateLimit("rpm", 60)};
  const auto start = now();
  for (int i = 0; i < 60; ++i) ASSERT_TRUE(admit("a" + std::to_string(i), 0).allowed());
  clock_.set(start - 5s);  // as a replica 5 s behind the one that filled it
  contract_.tick();
  const AdmissionResult refused = admit("b", 0);
  ASSERT_TRUE(refused.denial);
  EXPECT_EQ(refused.denial->retry_after, std::chrono::milliseconds(6000));
  clock_.advance(5999ms);
  contract_.tick();
  EXPECT_FALSE(admit("c", 0).allowed());
  clock_.advance(1ms);  // exactly the advertised wait
  contract_.tick();
  EXPECT_TRUE(admit("d", 0).allowed());
}

TEST_P(CounterStoreContract, NoDoubleBurstAtAMinuteEdge) {
  rules_.rate_limits = {rateLimit("rpm", 60)};
  clock_.set(utc(2026, 3, 10, 12, 0, 59));
  for (int i = 0; i < 60; ++i) ASSERT_TRUE(admit("a" + std::to_string(i), 0).allowed());
  clock_.set(utc(2026, 3, 10, 12, 1, 0));  // a fixed window would allow 60 more here
  int passed = 0;
  for (int i = 0; i < 60; ++i) passed += admit("b" + std::to_string(i), 0).allowed() ? 1 : 0;
  EXPECT_EQ(passed, 1);
}

TEST_P(CounterStoreContract, TokensReservedThenCorrected) {
  rules_.rate_limits = {rateLimit("tpm", 0, 1000)};
  const AdmissionResult first = admit("first", 0, 600);
  ASSERT_TRUE(first.allowed());
  ASSERT_TRUE(first.rate_limits.tokens);
  EXPECT_EQ(first.rate_limits.tokens->remaining, 400u);
  EXPECT_FALSE(first.rate_limits.requests);

  const AdmissionResult refused = admit("second", 0, 600);
  ASSERT_TRUE(refused.denial);
  EXPECT_EQ(refused.denial->retry_after,
            std::chrono::milliseconds(12000));  // 200 tokens at 1000/min
  // The answer used only 100 tokens: the bucket gets 500 back at once.
  settle("first", 0, 100);
  const AdmissionResult second = admit("second", 0, 600);
  ASSERT_TRUE(second.allowed());
  EXPECT_EQ(second.rate_limits.tokens->remaining, 300u);
  // An answer bigger than its estimate takes the difference too.
  settle("second", 0, 900);
  const AdmissionResult third = admit("third", 0, 1);
  ASSERT_TRUE(third.denial);
  EXPECT_EQ(third.denial->retry_after, std::chrono::milliseconds(60));  // level 1000 + 1
}

TEST_P(CounterStoreContract, TokensBeyondTheWholeLimitNeverPass) {
  rules_.rate_limits = {rateLimit("tpm", 0, 1000)};
  const AdmissionResult refused = admit("big", 0, 1001);
  ASSERT_TRUE(refused.denial);
  EXPECT_EQ(refused.denial->reason, DenialReason::RateLimit);
  EXPECT_EQ(refused.denial->retry_after, std::chrono::minutes(1));  // the window; never passes
  EXPECT_FALSE(refused.denial->should_retry);
  EXPECT_TRUE(admit("fits", 0, 1000).allowed());
}

// The advice names the caller's own output field ("max_tokens" means nothing to a Gemini client),
// and only when the caller set it: without a cap the estimate is the input alone.
TEST_P(CounterStoreContract, TokensBeyondTheWholeLimitNameTheCallersOutputField) {
  rules_.rate_limits = {rateLimit("tpm", 0, 1000)};
  const auto refuse = [&](const std::string& id, OutputCap cap) {
    return driver_->admit(plan(rules_, caller(), 0, 1001, now(), Spending::Priced, cap), id,
                          now() + 10min);
  };
  const AdmissionResult capped = refuse("capped", OutputCap{"maxOutputTokens", true});
  ASSERT_TRUE(capped.denial);
  EXPECT_NE(capped.denial->message.find("Lower maxOutputTokens or send less input."),
            std::string::npos)
      << capped.denial->message;
  const AdmissionResult uncapped = refuse("uncapped", OutputCap{"maxOutputTokens", false});
  ASSERT_TRUE(uncapped.denial);
  EXPECT_NE(uncapped.denial->message.find("Send less input."), std::string::npos)
      << uncapped.denial->message;
  EXPECT_EQ(uncapped.denial->message.find("maxOutputTokens"), std::string::npos)
      << uncapped.denial->message;
}

TEST_P(CounterStoreContract, ConcurrencySlots) {
  rules_.rate_limits = {rateLimit("inflight", 0, 0, 2)};
  ASSERT_TRUE(admit("a", 0, 0, 1min).allowed());
  ASSERT_TRUE(admit("b", 0).allowed());
  const AdmissionResult refused = admit("c", 0);
  ASSERT_TRUE(refused.denial);
  EXPECT_EQ(refused.denial->reason, DenialReason::RateLimit);
  EXPECT_EQ(refused.denial->retry_after, std::chrono::milliseconds(1000));
  EXPECT_NE(refused.denial->message.find("2 concurrent"), std::string::npos);
  settle("b", 0);
  settle("b", 0);  // a retried settle must not free a second slot
  ASSERT_TRUE(admit("c", 0).allowed());
  EXPECT_FALSE(admit("d", 0).allowed());
  clock_.advance(1min);  // "a" expires: its slot is released
  EXPECT_TRUE(admit("d", 0).allowed());
}

// SPEC §3: x-ratelimit-*-requests wherever a rate limit applies, so a rule that limits only
// concurrency reports its slots: remaining = free slots, reset = the refusal's wait when none is.
TEST_P(CounterStoreContract, ConcurrencyOnlyRuleReportsItsSlotsAsRequestHeaders) {
  rules_.rate_limits = {rateLimit("inflight", 0, 0, 2)};
  const AdmissionResult a = admit("a", 0, 100);
  ASSERT_TRUE(a.rate_limits.requests);
  EXPECT_EQ(*a.rate_limits.requests, (RateLimitStatus{2, 1, 0ms}));
  EXPECT_FALSE(a.rate_limits.tokens);  // no tokens_per_minute, no tokens headers
  const AdmissionResult b = admit("b", 0);
  ASSERT_TRUE(b.rate_limits.requests);
  EXPECT_EQ(*b.rate_limits.requests, (RateLimitStatus{2, 0, 1000ms}));

  const AdmissionResult refused = admit("c", 0);
  ASSERT_TRUE(refused.denial);
  ASSERT_TRUE(refused.rate_limits.requests);
  EXPECT_EQ(*refused.rate_limits.requests, (RateLimitStatus{2, 0, 1000ms}));
  EXPECT_EQ(refused.rate_limits.requests->reset, refused.denial->retry_after);
  EXPECT_EQ(refused.denial->rate_limits, refused.rate_limits);
  EXPECT_FALSE(refused.rate_limits.tokens);

  settle("a", 0);
  const AdmissionResult c = admit("c", 0);
  ASSERT_TRUE(c.rate_limits.requests);
  EXPECT_EQ(*c.rate_limits.requests, (RateLimitStatus{2, 0, 1000ms}));  // b and c in flight
  settle("b", 0);
  settle("c", 0);
  EXPECT_EQ(*admit("d", 0).rate_limits.requests, (RateLimitStatus{2, 1, 0ms}));
}

// Slots never compete with a rate for the request headers: OpenAI clients read
// x-ratelimit-*-requests as the per-minute limit, so a rate from any applying rule wins even when
// another rule's slots have fewer left (they used to compete, and "3 left of 3" hid the rate).
TEST_P(CounterStoreContract, ARateFromAnyRuleBeatsAnotherRulesSlotsForTheRequestHeaders) {
  rules_.rate_limits = {rateLimit("rpm", 10), rateLimit("slots", 0, 0, 3)};
  for (std::uint64_t i = 0; i < 3; ++i) {
    const AdmissionResult a = admit("a" + std::to_string(i), 0);
    ASSERT_TRUE(a.allowed());
    ASSERT_TRUE(a.rate_limits.requests);
    EXPECT_EQ(*a.rate_limits.requests, (RateLimitStatus{10, 9 - i, 6000ms * (i + 1)}));
  }
  const AdmissionResult refused = admit("b", 0);  // no slot left: refused by "slots"
  ASSERT_TRUE(refused.denial);
  EXPECT_EQ(refused.denial->rule, "slots");
  ASSERT_TRUE(refused.rate_limits.requests);
  EXPECT_EQ(*refused.rate_limits.requests, (RateLimitStatus{10, 7, 18000ms}));

  // Config order does not matter: slots first, the rate still wins.
  rules_.rate_limits = {rateLimit("slots2", 0, 0, 3), rateLimit("rpm2", 10)};
  const AdmissionResult c = admit("c", 0);
  ASSERT_TRUE(c.rate_limits.requests);
  EXPECT_EQ(*c.rate_limits.requests, (RateLimitStatus{10, 9, 6000ms}));
}

// A rule with a rate reports the rate, as today, also when its own slots are what refuses.
TEST_P(CounterStoreContract, RuleWithARateReportsTheRateNotItsSlots) {
  rules_.rate_limits = {rateLimit("both", 60, 0, 1)};
  const AdmissionResult a = admit("a", 0);
  ASSERT_TRUE(a.rate_limits.requests);
  EXPECT_EQ(*a.rate_limits.requests, (RateLimitStatus{60, 59, 1000ms}));
  const AdmissionResult refused = admit("b", 0);
  ASSERT_TRUE(refused.denial);
  EXPECT_EQ(refused.denial->message.find("concurrent") != std::string::npos, true);
  ASSERT_TRUE(refused.rate_limits.requests);
  EXPECT_EQ(refused.rate_limits.requests->limit, 60u);
}

TEST_P(CounterStoreContract, LateSettleDoesNotFreeASecondSlot) {
  rules_.rate_limits = {rateLimit("inflight", 0, 0, 1)};
  ASSERT_TRUE(admit("slow", 0, 0, 1min).allowed());
  clock_.advance(1min);  // "slow" expires and gives its slot back
  ASSERT_TRUE(admit("next", 0).allowed());
  EXPECT_EQ(settle("slow", 0).outcome, SettleOutcome::SettledAfterExpiry);
  EXPECT_FALSE(admit("third", 0).allowed());  // "next" still holds the only slot
}

TEST_P(CounterStoreContract, RateDenialReportsTheLongestWait) {
  rules_.rate_limits = {rateLimit("fast", 60), rateLimit("slow", 6)};
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(admit("x" + std::to_string(i), 0).allowed());
  const AdmissionResult refused = admit("y", 0);
  ASSERT_TRUE(refused.denial);
  EXPECT_EQ(refused.denial->rule, "slow");
  EXPECT_EQ(refused.denial->retry_after, std::chrono::milliseconds(10000));
  ASSERT_TRUE(refused.rate_limits.requests);
  EXPECT_EQ(refused.rate_limits.requests->limit, 6u);  // the tightest limit in the headers
}

TEST_P(CounterStoreContract, EmergencyStopBlocksAdmission) {
  rules_.budgets = {hardBudget("daily", 10 * kUsd)};
  EXPECT_EQ(driver_->emergencyStop(), EmergencyStopState{});
  const EmergencyStopState on = manualStop({}, "incident 7", 10min, now());
  driver_->setEmergencyStop(on);
  EXPECT_EQ(driver_->emergencyStop(), on);
  const AdmissionResult refused = admit("a", kUsd);
  ASSERT_TRUE(refused.denial);
  EXPECT_EQ(refused.denial->reason, DenialReason::EmergencyStop);
  EXPECT_EQ(refused.denial->retry_after, std::chrono::milliseconds(10min));
  EXPECT_NE(refused.denial->message.find("incident 7"), std::string::npos);
  EXPECT_EQ(counter("daily").reserved, 0);
  clock_.advance(10min);
  EXPECT_TRUE(admit("b", kUsd).allowed());

  EmergencyStopRule rule;
  rule.auto_stop = EmergencyStopRule::Auto{kUsd, Period::Day, 1h};
  const EmergencyStopState tripped = evaluateEmergencyStop({}, rule, 2 * kUsd, now());
  const EmergencyStopState off = manualResume(tripped, rule, now());
  driver_->setEmergencyStop(off);
  EXPECT_EQ(driver_->emergencyStop(), off);  // suppression survives the round trip
}

TEST_P(CounterStoreContract, AStopIsReplacedOnlyWhileTheStoreStillHoldsIt) {
  const EmergencyStopState on = manualStop({}, "incident 8", 10min, now());
  driver_->setEmergencyStop(on);
  clock_.advance(10min);
  const EmergencyStopState off = expireEmergencyStop(on, now());
  ASSERT_FALSE(off.active);
  EXPECT_EQ(driver_->replaceEmergencyStop(on, off), off);
  EXPECT_EQ(driver_->emergencyStop(), off);
  // A second instance that saw the same stop writes nothing more and reads the off state.
  EXPECT_EQ(driver_->replaceEmergencyStop(on, off), off);

  // A stop set after the read survives a late write of the expiry.
  clock_.advance(1s);
  const EmergencyStopState again = manualStop(off, "incident 9", 1h, now());
  driver_->setEmergencyStop(again);
  EXPECT_EQ(driver_->replaceEmergencyStop(on, off), again);
  EXPECT_EQ(driver_->emergencyStop(), again);
  // Same `active` but another `since` is another stop too.
  EmergencyStopState other_since = again;
  other_since.since = again.since - 1s;
  EXPECT_EQ(driver_->replaceEmergencyStop(other_since, off), again);
  EXPECT_EQ(driver_->replaceEmergencyStop(again, off), off);
}

TEST_P(CounterStoreContract, GlobalSpendForTheAutoStop) {
  rules_.emergency_stop.auto_stop = EmergencyStopRule::Auto{100 * kUsd, Period::Day, 1h};
  ASSERT_TRUE(admit("a", kUsd).allowed());
  ASSERT_TRUE(admit("b", kUsd).allowed());
  EXPECT_EQ(settle("a", 3 * kUsd).period_spend, 3 * kUsd);
  EXPECT_EQ(settle("b", 4 * kUsd).period_spend, 7 * kUsd);
  EXPECT_EQ(settle("b", 4 * kUsd).period_spend, std::nullopt);  // already settled
  EXPECT_EQ(driver_->spend(spendCounterKey(Period::Day, now())), 7 * kUsd);
  EXPECT_EQ(driver_->spend(spendCounterKey(Period::Day, now() + 24h)), 0);
}

TEST_P(CounterStoreContract, DuplicateAdmitDoesNotChargeTwice) {
  rules_.budgets = {hardBudget("daily", 10 * kUsd)};
  ASSERT_TRUE(admit("same", 4 * kUsd).allowed());
  ASSERT_TRUE(admit("same", 4 * kUsd).allowed());
  EXPECT_EQ(counter("daily").reserved, 4 * kUsd);
  settle("same", kUsd);
  AdmissionResult reused;
  store_->admit(planFor(kUsd), "same", now() + 1min, [&](AdmissionResult r) { reused = r; });
  EXPECT_EQ(reused.status, Status::StoreError);
}

TEST_P(CounterStoreContract, BudgetListingShowsCurrentPeriodsSorted) {
  rules_.budgets = {hardBudget("per-user", 10 * kUsd, Scope::User),
                    hardBudget("hourly", 10 * kUsd, Scope::Global, Period::Hour)};
  ASSERT_TRUE(
      driver_->admit(plan(rules_, caller("bob"), kUsd, 0, now()), "1", now() + 1min).allowed());
  ASSERT_TRUE(
      driver_->admit(plan(rules_, caller("alice"), kUsd, 0, now()), "2", now() + 1min).allowed());
  RequestAttributes nobody = caller("");
  ASSERT_TRUE(driver_->admit(plan(rules_, nobody, kUsd, 0, now()), "3", now() + 1min).allowed());
  std::vector<std::string> rows;
  for (const auto& b : driver_->budgets(now())) rows.push_back(b.name + "/" + b.subject);
  EXPECT_EQ(rows,
            (std::vector<std::string>{"hourly/", "per-user/-", "per-user/alice", "per-user/bob"}));
  clock_.advance(1h);  // the hourly counter's period is over; the daily ones remain
  rows.clear();
  for (const auto& b : driver_->budgets(now())) rows.push_back(b.name + "/" + b.subject);
  EXPECT_EQ(rows, (std::vector<std::string>{"per-user/-", "per-user/alice", "per-user/bob"}));
  // A counter of a later period (an instance whose clock runs ahead) is not listed yet.
  ASSERT_TRUE(driver_->admit(plan(rules_, caller("alice"), kUsd, 0, now() + 1h), "4", now() + 2h)
                  .allowed());
  EXPECT_EQ(driver_->budgets(now()).size(), 3u);
  EXPECT_EQ(driver_->budgets(now() + 1h).size(), 4u);
}

TEST_P(CounterStoreContract, NewPeriodStartsFromZero) {
  rules_.budgets = {hardBudget("daily", 10 * kUsd)};
  clock_.set(utc(2026, 3, 10, 23, 59, 59));
  ASSERT_TRUE(admit("a", 10 * kUsd).allowed());
  EXPECT_FALSE(admit("b", kUsd).allowed());
  clock_.set(utc(2026, 3, 11));
  EXPECT_TRUE(admit("c", 10 * kUsd).allowed());
  // "a" settles after midnight: it is charged to the day it was admitted in.
  const SettleResult s = settle("a", 5 * kUsd);
  ASSERT_EQ(s.budgets.size(), 1u);
  EXPECT_EQ(s.budgets[0].window.start, utc(2026, 3, 10));
  EXPECT_EQ(s.budgets[0].spent, 5 * kUsd);
  EXPECT_EQ(counter("daily").reserved, 10 * kUsd);
  EXPECT_EQ(counter("daily").spent, 0);
}

TEST_P(CounterStoreContract, ExactBeyondDoublePrecision) {
  // 9,000,000 USD = 9e18 picodollars; 2^53 + 1 picodollars is not a double.
  const Picodollars odd = (Picodollars{1} << 53) + 1;
  rules_.budgets = {hardBudget("huge", 9'000'000 * kUsd)};
  ASSERT_TRUE(admit("a", odd).allowed());
  EXPECT_EQ(counter("huge").reserved, odd);
  settle("a", odd);
  ASSERT_TRUE(admit("b", odd + 2).allowed());
  EXPECT_EQ(counter("huge").spent, odd);
  EXPECT_EQ(counter("huge").reserved, odd + 2);
  settle("b", 4'000'000 * kUsd + 3);
  EXPECT_EQ(counter("huge").spent, odd + 4'000'000 * kUsd + 3);
  // Exactly to the limit, not a picodollar more.
  const Picodollars room = 9'000'000 * kUsd - (odd + 4'000'000 * kUsd + 3);
  EXPECT_FALSE(admit("c", room + 1).allowed());
  EXPECT_TRUE(admit("d", room).allowed());
  EXPECT_EQ(counter("huge").reserved, room);
}

TEST_P(CounterStoreContract, CarriesBetweenDigitGroups) {
  // The scripts keep money as 9-digit groups; sums and differences right at a group boundary.
  rules_.budgets = {hardBudget("daily", 10 * kUsd)};
  ASSERT_TRUE(admit("a", 1'999'999'999).allowed());
  ASSERT_TRUE(admit("b", 1).allowed());
  EXPECT_EQ(counter("daily").reserved, 2'000'000'000);  // carry into a nonzero high group
  settle("b", 1);
  EXPECT_EQ(counter("daily").reserved, 1'999'999'999);  // borrow of exactly one
  settle("a", 999'999'999);
  EXPECT_EQ(counter("daily").spent, 1'000'000'000);
  EXPECT_EQ(counter("daily").reserved, 0);
}

/**
 * The product's promise: a random mix of admits, settles and clock steps with limits large
 * enough for the leasing store to lease (and use up) slices, checked against a mirror that
 * counts exactly what the stores admitted and settled (a memory store that never refuses).
 * Every admission must fit: mirror spent + reserved + worst case <= limit on each hard budget.
 * Request n goes to stores[rng % size] (its settle to the same one, as in the proxy). With one
 * store, the listing must show the mirror's spent and reserved (docs/store.md "What users see":
 * this instance's local spend and in-flight worst cases are included at once; `leased` apart);
 * with several, spent (each flushes after every call) and reserved + leased >= the mirror's.
 *
 * `overshoots`: some settles cost more than their worst case (up to twice). Then, with `leases`,
 * a local admission may still use the slice that overshoot ate into (the slice was headroom when
 * leased), so the checks allow the counter's total overshoot on top of the limit (docs/store.md
 * "What is exact": a request only exceeds its slice if its actual cost exceeds its worst case;
 * the total stays within limit + overshoot, as on every store). Without overshoots every check
 * is exact on every store.
 */
inline void runHardCapScenario(const std::vector<StoreDriver*>& stores,
                               ManualClock& clock,
                               bool leases,
                               const std::function<void()>& tick,
                               bool overshoots) {
  const auto now = [&] { return clock.now(); };
  Rules rules;
  // Limits the scenario reaches about half-way (settles cost less without overshoots).
  const Picodollars org = overshoots ? 20 * kUsd : 8 * kUsd;
  rules.budgets = {hardBudget("org", org, Scope::Global, Period::Hour),
                   hardBudget("per-user", org / 2, Scope::User, Period::Minute)};
  BudgetRule soft = hardBudget("soft", 5 * kUsd, Scope::Team);
  soft.mode = BudgetMode::Soft;
  rules.budgets.push_back(soft);
  rules.rate_limits = {rateLimit("global", 6000)};
  rules.emergency_stop.auto_stop = EmergencyStopRule::Auto{1000 * kUsd, Period::Hour, 1h};
  Rules unlimited = rules;  // the mirror: same counters, never refuses
  for (auto& b : unlimited.budgets) b.limit = 1'000'000 * kUsd;
  unlimited.rate_limits.clear();
  MemoryCounterStore mirror_store;
  StoreDriver mirror(mirror_store);
  const auto mirrored = [&](const std::string& key) {
    for (const auto& b : mirror.budgets(now())) {
      if (b.counter_key == key) return b;
    }
    return BudgetSnapshot{};
  };

  std::mt19937_64 rng(20261124);
  struct Open {
    std::string id;
    Picodollars worst;
    std::vector<std::string> hard;  // its hard budget counters
    StoreDriver* store;
  };
  std::vector<Open> open;
  std::map<std::string, Picodollars> overshoot;  // per hard budget counter: cost above worst
  int allowed = 0, refused = 0;
  const char* users[] = {"alice", "bob", "carol"};
  for (int step = 0; step < 1500; ++step) {
    const auto dice = rng() % 10;
    if (dice < 5) {
      const std::string id = "r" + std::to_string(step);
      const auto attrs = caller(users[rng() % 3]);
      const Picodollars worst = 1 + static_cast<Picodollars>(rng() % (kUsd / 12));
      StoreDriver* store = stores[rng() % stores.size()];
      const EnforcementPlan p = plan(rules, attrs, worst, 0, now());
      const AdmissionResult got = store->admit(p, id, now() + 1h);
      if (!got.allowed()) {
        ++refused;
        continue;
      }
      ++allowed;
      Open o{id, worst, {}, store};
      for (const auto& b : p.budgets) {
        if (b.mode != BudgetMode::Hard) continue;
        o.hard.push_back(b.counter_key);
        const BudgetSnapshot m = mirrored(b.counter_key);
        const Picodollars slack = leases ? overshoot[b.counter_key] : 0;
        ASSERT_LE(m.spent + m.reserved + worst, b.limit + slack)
            << "step " << step << ": " << b.counter_key << " spent " << m.spent << " reserved "
            << m.reserved << " + " << worst;
      }
      ASSERT_TRUE(mirror.admit(plan(unlimited, attrs, worst, 0, now()), id, now() + 1h).allowed());
      open.push_back(std::move(o));
    } else if (dice < 9 && !open.empty()) {
      const std::size_t pick = rng() % open.size();
      const Open o = open[pick];
      open.erase(open.begin() + static_cast<std::ptrdiff_t>(pick));
      // Mostly within the worst case; sometimes above it (only that may pass a limit).
      const Picodollars cost = overshoots && rng() % 5 == 0
                                   ? o.worst + static_cast<Picodollars>(rng() % o.worst)
                                   : static_cast<Picodollars>(rng() % (o.worst + 1));
      const SettleResult got = o.store->settle(o.id, cost, 0, now());
      ASSERT_EQ(got.outcome, SettleOutcome::Settled) << "step " << step;
      ASSERT_EQ(mirror.settle(o.id, cost, 0, now()).outcome, SettleOutcome::Settled);
      for (const auto& key : o.hard) overshoot[key] += std::max<Picodollars>(0, cost - o.worst);
    } else {
      clock.advance(std::chrono::milliseconds(rng() % 2000));
      tick();
    }
    if (step % 50 == 0) {
      std::map<std::string, std::pair<Picodollars, Picodollars>> want;
      for (const auto& b : mirror.budgets(now())) want[b.counter_key] = {b.spent, b.reserved};
      for (StoreDriver* store : stores) {
        std::map<std::string, std::pair<Picodollars, Picodollars>> got;
        for (const auto& b : store->budgets(now())) {
          got[b.counter_key] = {b.spent, b.reserved};
          if (stores.size() > 1) {
            // Another instance's in-flight admissions are inside its slice (`leased`). An
            // overshoot settled out of a slice shrinks it by the whole cost, so it may then
            // cover up to that overshoot less than the holder's in-flight worst cases.
            const Picodollars slack = leases ? overshoot[b.counter_key] : 0;
            ASSERT_GE(b.reserved + b.leased + slack, want[b.counter_key].second)
                << "step " << step << ": " << b.counter_key;
            got[b.counter_key].second = want[b.counter_key].second;
          }
        }
        ASSERT_EQ(got, want) << "step " << step;
      }
    }
  }
  // Both paths taken often, or it proves little.
  EXPECT_GE(allowed, 100);
  EXPECT_GE(refused, 50);
}

TEST_P(CounterStoreContract, RandomScenarioKeepsEveryHardCap) {
  runHardCapScenario({driver_.get()}, clock_, leases(), contract_.tick, false);
}

TEST_P(CounterStoreContract, RandomScenarioWithOvershootsStaysWithinLimitPlusOvershoot) {
  runHardCapScenario({driver_.get()}, clock_, leases(), contract_.tick, true);
}

/**
 * Differential: a random mix of admits, settles and clock steps must give identical answers
 * from the memory store and the scripts (the same scenario on a fresh store of this kind is
 * compared with a fresh memory store).
 */
TEST_P(CounterStoreContract, RandomScenarioMatchesTheReference) {
  if (GetParam() == "memory") GTEST_SKIP() << "the reference itself";
  MemoryCounterStore reference_store;
  StoreDriver reference(reference_store);
  // Short periods and tight limits, so that budgets refill and every path is taken.
  rules_.budgets = {hardBudget("org", 150 * kUsd, Scope::Global, Period::Hour),
                    hardBudget("per-user", 6 * kUsd, Scope::User, Period::Minute),
                    hardBudget("minutely", 12 * kUsd, Scope::Global, Period::Minute)};
  BudgetRule soft = hardBudget("soft", 5 * kUsd, Scope::Team);
  soft.mode = BudgetMode::Soft;
  rules_.budgets.push_back(soft);
  // Rates that do not divide a minute, so every wait needs the exact rounding.
  rules_.rate_limits = {rateLimit("per-user", 11, 3989, 3, Scope::User),
                        rateLimit("global", 97, 9001)};
  rules_.emergency_stop.auto_stop = EmergencyStopRule::Auto{1000 * kUsd, Period::Hour, 1h};

  std::mt19937_64 rng(20260310);
  std::vector<std::string> open;
  std::map<std::string, int> seen;  // which paths the scenario went through
  const char* users[] = {"alice", "bob", "carol", ""};
  for (int step = 0; step < 1500; ++step) {
    const auto dice = rng() % 10;
    if (dice < 5) {
      const std::string id = "r" + std::to_string(step);
      const auto attrs = caller(users[rng() % 4]);
      const Picodollars worst = static_cast<Picodollars>(rng() % (2 * kUsd));
      const std::int64_t tokens = static_cast<std::int64_t>(rng() % 1500);
      const auto ttl = std::chrono::milliseconds(1000 + rng() % 8000);
      const EnforcementPlan p = plan(rules_, attrs, worst, tokens, now());
      const AdmissionResult got = driver_->admit(p, id, now() + ttl);
      const AdmissionResult want = reference.admit(p, id, now() + ttl);
      ASSERT_EQ(got.status, want.status) << "step " << step;
      ASSERT_EQ(got.rate_limits, want.rate_limits) << "step " << step;
      ASSERT_EQ(got.denial.has_value(), want.denial.has_value());
      if (want.denial) {
        ASSERT_EQ(got.denial->message, want.denial->message) << "step " << step;
        ASSERT_EQ(got.denial->retry_after, want.denial->retry_after) << "step " << step;
      }
      if (want.allowed()) open.push_back(id);
      ++seen[want.denial ? std::string(denialReasonName(want.denial->reason)) : "allowed"];
    } else if (dice < 8 && !open.empty()) {
      const std::size_t pick = rng() % open.size();
      const std::string id = open[pick];
      if (rng() % 4 != 0) open.erase(open.begin() + static_cast<std::ptrdiff_t>(pick));
      const Picodollars cost = static_cast<Picodollars>(rng() % (2 * kUsd));
      const std::int64_t tokens = static_cast<std::int64_t>(rng() % 2000);
      const SettleResult got = driver_->settle(id, cost, tokens, now());
      const SettleResult want = reference.settle(id, cost, tokens, now());
      ASSERT_EQ(got.outcome, want.outcome) << "step " << step;
      ASSERT_EQ(got.budgets, want.budgets) << "step " << step;
      ASSERT_EQ(got.period_spend, want.period_spend) << "step " << step;
      ++seen["settle-" + std::to_string(static_cast<int>(want.outcome))];
    } else {
      clock_.advance(std::chrono::milliseconds(rng() % 3000));
    }
    if (step % 100 == 0) {
      ASSERT_EQ(driver_->budgets(now()), reference.budgets(now())) << "step " << step;
    }
  }
  // The scenario must have gone through every path, or it proves little.
  for (const char* path : {"allowed", "budget", "rate_limit", "settle-0", "settle-1", "settle-2"}) {
    EXPECT_GE(seen[path], 10) << path;
  }
}

}  // namespace
}  // namespace spendgate::core::testing
