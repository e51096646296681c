// LeaseBook: the local side of leased slices (docs/store.md "Leased slices"), driven by hand with
// a ManualClock and hand-written lease.lua replies.

#include "core/store/lease_book.hpp"

#include <gtest/gtest.h>

#include "core/enforcement/planner.hpp"
#include "tests/core/manual_clock.hpp"
#include "tests/core/store/store_test_support.hpp"

namespace spendgate::core {
namespace {

using namespace std::chrono_literals;
using testing::caller;
using testing::hardBudget;
using testing::kUsd;
using testing::rateLimit;
using testing::utc;

class LeaseBookTest : public ::testing::Test {
protected:
  EnforcementPlan planFor(Picodollars worst, std::int64_t tokens = 0) {
    return plan(rules_, caller(), worst, tokens, clock_.now());
  }
  std::optional<AdmissionResult> admit(Picodollars worst, const std::string& id) {
    return book_.admit(planFor(worst), id, clock_.now() + 10min, clock_.steadyNow());
  }
  std::string budgetKey() { return planFor(kUsd).budgets.at(0).counter_key; }

  /** Flushes and answers every budget entry with `lease` and every rate entry with `grant`. */
  LeaseFlush flush(Picodollars lease, std::int64_t grant = 0, bool reclaim = false) {
    auto f = book_.beginFlush(clock_.now(), clock_.steadyNow());
    EXPECT_TRUE(f.has_value());
    if (!f) return {};
    LeaseReply reply;
    for (std::size_t i = 0; i < f->budgets.size(); ++i) {
      reply.budgets.push_back({true, lease, spent_, 0, lease, reclaim});
    }
    for (std::size_t i = 0; i < f->rates.size(); ++i) {
      reply.rates.push_back({grant, 0, grant * 60000, 0});
    }
    for (std::size_t i = 0; i < f->spends.size(); ++i) reply.spends.push_back(spent_);
    book_.endFlush(reply, clock_.steadyNow());
    return *f;
  }

  testing::ManualClock clock_{utc(2026, 3, 10, 12, 0, 0)};
  Rules rules_;
  LeaseBook book_;
  Picodollars spent_ = 0;
};

TEST_F(LeaseBookTest, FirstRequestTakesTheExactPathAndTheFlushAsksForASlice) {
  rules_.budgets = {hardBudget("daily", 1000 * kUsd)};
  EXPECT_FALSE(admit(kUsd, "a").has_value());
  const LeaseFlush f = flush(10 * kUsd);
  ASSERT_EQ(f.budgets.size(), 1u);
  EXPECT_EQ(f.seq, 1u);
  EXPECT_EQ(f.budgets[0].unit, kUsd);  // sized for this worst case
  EXPECT_EQ(f.budgets[0].spent_delta, 0);
  EXPECT_EQ(f.budgets[0].release, 0);
  const auto r = admit(kUsd, "b");
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->allowed());
  EXPECT_EQ(book_.budget(budgetKey())->inflight, kUsd);
}

TEST_F(LeaseBookTest, LocalAdmissionsReserveAgainstTheSliceAndSettleIntoUnflushedSpend) {
  rules_.budgets = {hardBudget("daily", 1000 * kUsd)};
  spent_ = 5 * kUsd;
  EXPECT_FALSE(admit(3 * kUsd, "x").has_value());
  flush(10 * kUsd);
  ASSERT_TRUE(admit(3 * kUsd, "a"));
  ASSERT_TRUE(admit(3 * kUsd, "b"));
  ASSERT_TRUE(admit(3 * kUsd, "c"));
  EXPECT_FALSE(admit(3 * kUsd, "d").has_value());  // 1 USD left in the slice
  const auto s = book_.settle(Settlement{"a", 2 * kUsd, 0, clock_.now()}, clock_.steadyNow());
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->outcome, SettleOutcome::Settled);
  ASSERT_EQ(s->budgets.size(), 1u);
  EXPECT_EQ(s->budgets[0].spent, 7 * kUsd);     // Redis' 5 + this instance's unflushed 2
  EXPECT_EQ(s->budgets[0].reserved, 6 * kUsd);  // b and c in flight
  // 10 - 6 in flight - 2 unflushed = 2 < 3
  EXPECT_FALSE(admit(3 * kUsd, "e").has_value());
  EXPECT_TRUE(admit(2 * kUsd, "f"));
  auto f = book_.beginFlush(clock_.now(), clock_.steadyNow());
  ASSERT_TRUE(f && f->budgets.size() == 1);
  EXPECT_EQ(f->budgets[0].spent_delta, 2 * kUsd);
  EXPECT_EQ(f->budgets[0].release, 0);
  EXPECT_EQ(book_.budget(budgetKey())->lease, 8 * kUsd);      // shrunk by the delta at once
  EXPECT_EQ(book_.budget(budgetKey())->unflushed, 2 * kUsd);  // being sent
  EXPECT_FALSE(book_.settle(Settlement{"unknown", kUsd, 0, clock_.now()}, clock_.steadyNow()));
}

TEST_F(LeaseBookTest, ASliceNotRenewedWithinTheTtlIsNotUsed) {
  rules_.budgets = {hardBudget("daily", 1000 * kUsd)};
  EXPECT_FALSE(admit(kUsd, "x").has_value());
  flush(10 * kUsd);
  clock_.advance(4s);
  EXPECT_TRUE(admit(kUsd, "a"));
  ASSERT_TRUE(book_.beginFlush(clock_.now(), clock_.steadyNow()));
  book_.failFlush();  // Redis away
  clock_.advance(1s);
  EXPECT_FALSE(admit(kUsd, "b").has_value());  // 5 s since the last renewal
}

TEST_F(LeaseBookTest, AFailedFlushIsSentAgainUnchangedAndNewSpendWaitsForTheNext) {
  rules_.budgets = {hardBudget("daily", 1000 * kUsd)};
  EXPECT_FALSE(admit(kUsd, "x").has_value());
  flush(10 * kUsd);
  ASSERT_TRUE(admit(kUsd, "a"));
  book_.settle(Settlement{"a", kUsd, 0, clock_.now()}, clock_.steadyNow());
  ASSERT_TRUE(admit(3 * kUsd, "held"));
  const auto first = book_.beginFlush(clock_.now(), clock_.steadyNow());
  ASSERT_TRUE(first);
  EXPECT_EQ(first->budgets[0].held, 3 * kUsd);  // in flight, beyond the spend it sends
  EXPECT_FALSE(book_.beginFlush(clock_.now(), clock_.steadyNow()));  // one at a time
  book_.failFlush();
  ASSERT_TRUE(admit(kUsd, "b"));
  book_.settle(Settlement{"b", 2 * kUsd, 0, clock_.now()}, clock_.steadyNow());
  EXPECT_EQ(book_.budget(budgetKey())->unflushed, 3 * kUsd);  // nothing lost meanwhile
  const auto again = book_.beginFlush(clock_.now(), clock_.steadyNow());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->seq, first->seq);
  EXPECT_EQ(again->budgets[0].spent_delta, kUsd);
  // What it holds now (for a slice that lapsed meanwhile): "held" and b's unsent spend.
  EXPECT_EQ(again->budgets[0].held, 5 * kUsd);
  book_.endFlush(LeaseReply{false, {{true, 9 * kUsd, kUsd, 0, 9 * kUsd, false}}, {}, {}},
                 clock_.steadyNow());
  const auto next = book_.beginFlush(clock_.now(), clock_.steadyNow());
  ASSERT_TRUE(next);
  EXPECT_EQ(next->seq, first->seq + 1);
  EXPECT_EQ(next->budgets[0].spent_delta, 2 * kUsd);
}

TEST_F(LeaseBookTest, AnUnsettledLocalAdmissionExpiresLikeAReservation) {
  rules_.budgets = {hardBudget("daily", 1000 * kUsd)};
  EXPECT_FALSE(admit(kUsd, "x").has_value());
  flush(10 * kUsd);
  ASSERT_TRUE(book_.admit(planFor(4 * kUsd), "a", clock_.now() + 1s, clock_.steadyNow()));
  ASSERT_TRUE(book_.admit(planFor(kUsd), "b", clock_.now() + 1s, clock_.steadyNow()));
  EXPECT_EQ(book_.budget(budgetKey())->inflight, 5 * kUsd);
  clock_.advance(2s);
  // Never settled: it may have been billed, so its worst case is charged as spent.
  const auto f = book_.beginFlush(clock_.now(), clock_.steadyNow());
  ASSERT_TRUE(f);
  EXPECT_EQ(f->budgets[0].spent_delta, 5 * kUsd);
  EXPECT_EQ(book_.budget(budgetKey())->inflight, 0);
  const auto s = book_.settle(Settlement{"a", kUsd, 0, clock_.now()}, clock_.steadyNow());
  ASSERT_TRUE(s);
  EXPECT_EQ(s->outcome, SettleOutcome::SettledAfterExpiry);
  EXPECT_EQ(book_.budget(budgetKey())->unflushed, 5 * kUsd);  // below the charge: nothing more
  book_.settle(Settlement{"b", 3 * kUsd, 0, clock_.now()}, clock_.steadyNow());
  EXPECT_EQ(book_.budget(budgetKey())->unflushed, 7 * kUsd);  // 2 USD above its worst case
  EXPECT_EQ(book_.budget(budgetKey())->inflight, 0);
}

TEST_F(LeaseBookTest, ARateSliceIsUsedOnlyForAShortTimeAndItsRestIsRefunded) {
  rules_.rate_limits = {rateLimit("rpm", 1000000)};
  EXPECT_FALSE(admit(0, "x").has_value());
  const LeaseFlush f = flush(0, 1000);
  ASSERT_EQ(f.rates.size(), 1u);
  EXPECT_EQ(f.rates[0].want_requests, 1);
  EXPECT_EQ(f.rates[0].refund_requests, 0);
  const auto r = admit(0, "a");
  ASSERT_TRUE(r && r->allowed());
  ASSERT_TRUE(r->rate_limits.requests.has_value());
  EXPECT_EQ(r->rate_limits.requests->limit, 1000000u);
  ASSERT_TRUE(admit(0, "b"));
  clock_.advance(250ms);
  EXPECT_FALSE(admit(0, "c").has_value());  // 998 units left, but the slice is too old
  const auto next = book_.beginFlush(clock_.now(), clock_.steadyNow());
  ASSERT_TRUE(next && next->rates.size() == 1);
  EXPECT_EQ(next->rates[0].refund_requests, 998);
  EXPECT_EQ(next->rates[0].want_requests, 1);
}

TEST_F(LeaseBookTest, TokensAboveTheEstimateAreChargedAtTheNextFlush) {
  rules_.rate_limits = {rateLimit("tpm", 0, 10000000)};
  EXPECT_FALSE(book_.admit(planFor(0, 100), "x", clock_.now() + 1min, clock_.steadyNow()));
  auto f = book_.beginFlush(clock_.now(), clock_.steadyNow());
  ASSERT_TRUE(f && f->rates.size() == 1);
  EXPECT_EQ(f->rates[0].want_tokens, 100);
  book_.endFlush(LeaseReply{false, {}, {{0, 5000, 0, 5000 * 60000}}, {}}, clock_.steadyNow());
  ASSERT_TRUE(book_.admit(planFor(0, 100), "a", clock_.now() + 1min, clock_.steadyNow()));
  book_.settle(Settlement{"a", 0, 130, clock_.now()}, clock_.steadyNow());
  clock_.advance(200ms);
  f = book_.beginFlush(clock_.now(), clock_.steadyNow());
  ASSERT_TRUE(f && f->rates.size() == 1);
  EXPECT_EQ(f->rates[0].refund_tokens, 4900 - 30);  // unused slice minus the 30 extra tokens
}

TEST_F(LeaseBookTest, AReclaimMarkHandsTheUnusedPartBackAndStopsLeasing) {
  rules_.budgets = {hardBudget("daily", 1000 * kUsd)};
  EXPECT_FALSE(admit(kUsd, "x").has_value());
  flush(10 * kUsd);
  ASSERT_TRUE(admit(3 * kUsd, "a"));
  flush(10 * kUsd, 0, /*reclaim=*/true);
  EXPECT_FALSE(admit(kUsd, "b").has_value());
  const auto f = book_.beginFlush(clock_.now(), clock_.steadyNow());
  ASSERT_TRUE(f && f->budgets.size() == 1);
  EXPECT_EQ(f->budgets[0].release, 7 * kUsd);  // all but a's worst case
  EXPECT_EQ(f->budgets[0].unit, 0);            // wants nothing while the mark lasts
}

// The exact path was refused only because of slices, and one of them is ours: the next flush
// hands its unused part back at once (without waiting for Redis' mark in a flush reply).
TEST_F(LeaseBookTest, ReclaimingOwnSlicesHandsTheUnusedPartBackAtTheNextFlush) {
  rules_.budgets = {hardBudget("daily", 1000 * kUsd)};
  EXPECT_FALSE(admit(kUsd, "x").has_value());
  flush(10 * kUsd);
  ASSERT_TRUE(admit(3 * kUsd, "a"));
  EXPECT_TRUE(book_.reclaim(planFor(20 * kUsd), clock_.steadyNow()));
  EXPECT_FALSE(admit(kUsd, "b").has_value());  // not used while reclaiming
  const auto f = book_.beginFlush(clock_.now(), clock_.steadyNow());
  ASSERT_TRUE(f && f->budgets.size() == 1);
  EXPECT_EQ(f->budgets[0].release, 7 * kUsd);  // all but a's worst case
  EXPECT_EQ(f->budgets[0].unit, 0);            // wants nothing while reclaiming
  book_.failFlush();
  EXPECT_FALSE(book_.reclaim(planFor(20 * kUsd), clock_.steadyNow()));  // nothing unused left
}

TEST_F(LeaseBookTest, AnIdleCounterGivesItsSliceBackAndIsForgotten) {
  rules_.budgets = {hardBudget("daily", 1000 * kUsd)};
  EXPECT_FALSE(admit(kUsd, "x").has_value());
  flush(10 * kUsd);
  clock_.advance(1s);
  const LeaseFlush f = flush(0);
  ASSERT_EQ(f.budgets.size(), 1u);
  EXPECT_EQ(f.budgets[0].release, 10 * kUsd);
  EXPECT_EQ(f.budgets[0].unit, 0);
  EXPECT_FALSE(book_.beginFlush(clock_.now(), clock_.steadyNow()));
  EXPECT_TRUE(book_.empty());
}

TEST_F(LeaseBookTest, AReloadThatChangesTheLimitHandsTheSliceBack) {
  rules_.budgets = {hardBudget("daily", 1000 * kUsd)};
  EXPECT_FALSE(admit(kUsd, "x").has_value());
  flush(10 * kUsd);
  ASSERT_TRUE(admit(kUsd, "a"));
  rules_.budgets = {hardBudget("daily", 500 * kUsd)};
  EXPECT_FALSE(admit(kUsd, "b").has_value());  // the exact path applies the new limit
  const auto f = book_.beginFlush(clock_.now(), clock_.steadyNow());
  ASSERT_TRUE(f && f->budgets.size() == 1);
  EXPECT_EQ(f->budgets[0].release, 9 * kUsd);  // all but a's worst case
  EXPECT_EQ(f->budgets[0].counter.limit, 500 * kUsd);
}

// Audit 16 H2: after a reload lowered the limit, the first request took the exact path, but the
// next ones were admitted on the slice leased under the old limit, and after the flush on what
// settles below their worst cases freed in the part kept for the requests in flight.
TEST_F(LeaseBookTest, ASliceLeasedUnderTheOldLimitIsNotUsedAfterAReloadLowersIt) {
  rules_.budgets = {hardBudget("daily", 1000 * kUsd)};
  spent_ = 100 * kUsd;
  EXPECT_FALSE(admit(kUsd, "x").has_value());
  flush(10 * kUsd);
  ASSERT_TRUE(admit(kUsd, "a"));
  ASSERT_TRUE(admit(kUsd, "b"));
  ASSERT_TRUE(admit(kUsd, "c"));
  book_.settle(Settlement{"a", kUsd / 2, 0, clock_.now()}, clock_.steadyNow());
  // Spent 100.5 (0.5 not flushed) and 2 in flight: 102.5, above the new limit.
  rules_.budgets = {hardBudget("daily", 102 * kUsd)};
  EXPECT_FALSE(admit(kUsd, "d").has_value());      // the exact path applies the new limit
  EXPECT_FALSE(admit(kUsd / 4, "e").has_value());  // and so does every request after it
  auto f = book_.beginFlush(clock_.now(), clock_.steadyNow());
  ASSERT_TRUE(f && f->budgets.size() == 1);
  EXPECT_EQ(f->budgets[0].counter.limit, 102 * kUsd);
  EXPECT_EQ(f->budgets[0].spent_delta, kUsd / 2);
  EXPECT_EQ(f->budgets[0].release, 7 * kUsd + kUsd / 2);  // all but b's and c's worst cases
  EXPECT_GT(f->budgets[0].unit, 0);  // a slice under the new limit, if Redis has the headroom
  // Redis: spent 100.5, the 2 in flight still leased: 102.5 > 102, no new slice.
  book_.endFlush(
      LeaseReply{false, {{true, 2 * kUsd, 100 * kUsd + kUsd / 2, 0, 2 * kUsd, false}}, {}, {}},
      clock_.steadyNow());
  // b settles below its worst case; what that frees in the slice is not for new admissions.
  book_.settle(Settlement{"b", kUsd / 2, 0, clock_.now()}, clock_.steadyNow());
  EXPECT_FALSE(admit(kUsd / 4, "f").has_value());
  f = book_.beginFlush(clock_.now(), clock_.steadyNow());
  ASSERT_TRUE(f && f->budgets.size() == 1);
  EXPECT_EQ(f->budgets[0].release, kUsd / 2);  // handed back too
  book_.failFlush();
  EXPECT_FALSE(admit(kUsd / 4, "g").has_value());
}

TEST_F(LeaseBookTest, AfterAReloadASliceIsUsedOnceRedisAnswersItFitsTheNewLimit) {
  rules_.budgets = {hardBudget("daily", 1000 * kUsd)};
  EXPECT_FALSE(admit(kUsd, "x").has_value());
  flush(10 * kUsd);
  // A flush sent under the old limit is answered after the reload: still the old limit's slice.
  ASSERT_TRUE(admit(kUsd, "a"));
  auto f = book_.beginFlush(clock_.now(), clock_.steadyNow());
  ASSERT_TRUE(f && f->budgets.size() == 1);
  EXPECT_EQ(f->budgets[0].counter.limit, 1000 * kUsd);
  rules_.budgets = {hardBudget("daily", 500 * kUsd)};
  EXPECT_FALSE(admit(kUsd, "b").has_value());
  book_.endFlush(LeaseReply{false, {{true, 20 * kUsd, 0, 0, 20 * kUsd, false}}, {}, {}},
                 clock_.steadyNow());
  EXPECT_FALSE(admit(kUsd, "c").has_value());
  // The next flush is sent under the new limit; Redis answers within it: the slice is usable.
  f = book_.beginFlush(clock_.now(), clock_.steadyNow());
  ASSERT_TRUE(f && f->budgets.size() == 1);
  EXPECT_EQ(f->budgets[0].counter.limit, 500 * kUsd);
  EXPECT_EQ(f->budgets[0].release, 19 * kUsd);  // all but a's worst case
  book_.endFlush(LeaseReply{false, {{true, 15 * kUsd, 0, 0, 15 * kUsd, false}}, {}, {}},
                 clock_.steadyNow());
  EXPECT_TRUE(admit(kUsd, "d"));
  // A limit raised back is another rule again: exact until a flush under it is answered.
  rules_.budgets = {hardBudget("daily", 1000 * kUsd)};
  EXPECT_FALSE(admit(kUsd, "e").has_value());
}

TEST_F(LeaseBookTest, PlansWithAConcurrencyLimitAreNeverLocal) {
  rules_.budgets = {hardBudget("daily", 1000 * kUsd)};
  rules_.rate_limits = {rateLimit("inflight", 0, 0, 10)};
  EXPECT_FALSE(admit(kUsd, "x").has_value());
  EXPECT_TRUE(book_.empty());  // nothing wanted either
}

TEST_F(LeaseBookTest, EveryRuleMustBeSatisfiedLocally) {
  rules_.budgets = {hardBudget("daily", 1000 * kUsd)};
  rules_.rate_limits = {rateLimit("rpm", 1000000)};
  EXPECT_FALSE(admit(kUsd, "x").has_value());
  flush(10 * kUsd, 0);  // a budget slice, no rate slice (no headroom)
  EXPECT_FALSE(admit(kUsd, "a").has_value());
  EXPECT_EQ(book_.budget(budgetKey())->inflight, 0);  // nothing half-reserved
  flush(10 * kUsd, 100);
  EXPECT_TRUE(admit(kUsd, "b"));
}

}  // namespace
}  // namespace spendgate::core
