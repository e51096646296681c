#include "core/ledger/ledger_replay_planner.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/enforcement/planner.hpp"
#include "tests/core/manual_clock.hpp"

namespace spendgate::core {
namespace {

using testing::utc;
constexpr Picodollars kUsd = kPicodollarsPerUsd;

BudgetRule budget(std::string name, Scope scope, Period period, Match match = {}) {
  BudgetRule rule;
  rule.name = std::move(name);
  rule.scope = scope;
  rule.period = period;
  rule.match = std::move(match);
  rule.limit = 10 * kUsd;
  return rule;
}

Rules rules() {
  Rules r;
  r.budgets = {budget("org-daily", Scope::Global, Period::Day),
               budget("per-key", Scope::Key, Period::Day),
               budget("monthly", Scope::Team, Period::Month),
               budget("forever", Scope::Global, Period::Total),
               budget("mini-only", Scope::Global, Period::Day,
                      {MatchClause{Dimension::Model, "gpt-4o-mini"}}),
               budget("anthropic", Scope::Global, Period::Day,
                      {MatchClause{Dimension::Provider, "anthropic"}})};
  r.emergency_stop.auto_stop = EmergencyStopRule::Auto{100 * kUsd, Period::Day};
  return r;
}

/** A record as the proxy writes it for a request of search-team's key. */
LedgerEntry record(std::chrono::system_clock::time_point ts, Picodollars cost = kUsd) {
  LedgerEntry e;
  e.ts = ts;
  e.request_id = "req";
  e.provider = "openai";
  e.model = "gpt-4o-mini-2024-07-18";  // the priced (answer's) model
  e.requested_model = "gpt-4o-mini";   // what the request asked for: what budgets match
  e.key = "search-team";
  e.user = "alice";
  e.team = "search";
  e.cost_picousd = cost;
  return e;
}

std::vector<std::string> keys(const ReplayCharges& charges) {
  std::vector<std::string> out;
  for (const auto& b : charges.reconciliation.budgets) out.push_back(b.counter_key);
  return out;
}

TEST(LedgerReplayPlanner, ChargesTheCountersALiveRequestOfTheSamePeriodCharges) {
  const Rules r = rules();
  const auto now = utc(2026, 11, 23, 18);
  const auto ts = utc(2026, 11, 23, 9, 15);
  const ReplayCharges charges = LedgerReplayPlanner(r, now).charges(record(ts, 3 * kUsd));

  // What ClientSession::enforce plans for that request when it is admitted (earlier that day).
  const RequestAttributes live{"openai", "gpt-4o-mini", "search-team", "alice", "search", "", ""};
  const EnforcementPlan admitted = plan(r, live, 5 * kUsd, 100, utc(2026, 11, 23, 9, 14));
  std::vector<std::string> live_keys;
  for (const auto& b : admitted.budgets) live_keys.push_back(b.counter_key);

  EXPECT_EQ(keys(charges), live_keys);
  ASSERT_EQ(charges.reconciliation.budgets.size(), 5u);  // not the anthropic one
  EXPECT_EQ(charges.reconciliation.budgets[1].subject, "search-team");
  EXPECT_EQ(charges.reconciliation.budgets[2].subject, "search");
  ASSERT_TRUE(charges.reconciliation.spend);
  EXPECT_EQ(charges.reconciliation.spend->key, admitted.spend->key);
  EXPECT_EQ(charges.reconciliation.actual_cost, 3 * kUsd);
  EXPECT_EQ(charges.reconciliation.reservation_id, "req");
  EXPECT_TRUE(charges.spend_stats);
  EXPECT_FALSE(charges.empty());
}

// Found by fuzzing (tests/fuzz/ledger_line_parser_fuzz.cpp): a ledger line is read back with any
// int64 token counts, and input + output overflowed (undefined behaviour) for a hand-edited line.
TEST(LedgerReplayPlanner, HugeTokenCountsSaturateInsteadOfOverflowing) {
  const Rules r = rules();
  const auto now = utc(2026, 11, 23, 18);
  LedgerEntry e = record(utc(2026, 11, 23, 9));
  e.input_tokens = std::numeric_limits<std::int64_t>::max();
  e.output_tokens = 1;
  EXPECT_EQ(LedgerReplayPlanner(r, now).charges(e).reconciliation.actual_tokens,
            std::numeric_limits<std::int64_t>::max());
  e.input_tokens = std::numeric_limits<std::int64_t>::min();
  e.output_tokens = -1;
  EXPECT_EQ(LedgerReplayPlanner(r, now).charges(e).reconciliation.actual_tokens,
            std::numeric_limits<std::int64_t>::min());
}

TEST(LedgerReplayPlanner, PastPeriodsDoNotCountTotalAlways) {
  const Rules r = rules();
  const auto now = utc(2026, 11, 23, 0, 0, 1);  // Monday, just after midnight
  const LedgerReplayPlanner planner(r, now);

  // Yesterday (Sunday): day budgets and the day's spend counter are gone; same month and total.
  const ReplayCharges yesterday = planner.charges(record(utc(2026, 11, 22, 23, 59, 59, 999)));
  ASSERT_EQ(yesterday.reconciliation.budgets.size(), 2u);
  EXPECT_EQ(yesterday.reconciliation.budgets[0].name, "monthly");
  EXPECT_EQ(yesterday.reconciliation.budgets[1].name, "forever");
  EXPECT_FALSE(yesterday.reconciliation.spend);
  EXPECT_TRUE(yesterday.spend_stats);  // the month's /admin/spend window

  // Last month, and last week (it began on the 16th): only the total budget.
  const ReplayCharges october = planner.charges(record(utc(2026, 10, 31, 12)));
  ASSERT_EQ(october.reconciliation.budgets.size(), 1u);
  EXPECT_EQ(october.reconciliation.budgets[0].name, "forever");
  EXPECT_FALSE(october.spend_stats);
  EXPECT_FALSE(october.empty());

  // Without the total budget, an old record counts for nothing.
  Rules no_total = r;
  no_total.budgets.erase(no_total.budgets.begin() + 3);
  EXPECT_TRUE(LedgerReplayPlanner(no_total, now).charges(record(utc(2026, 10, 31, 12))).empty());
}

TEST(LedgerReplayPlanner, AWeekThatBeganLastMonthKeepsItsRecordsForTheSpendReports) {
  const Rules none;
  const auto now = utc(2026, 12, 2, 12);  // Wednesday; the ISO week began Monday 30 November
  const LedgerReplayPlanner planner(none, now);
  EXPECT_TRUE(planner.charges(record(utc(2026, 11, 30, 1))).spend_stats);
  EXPECT_FALSE(planner.charges(record(utc(2026, 11, 29, 23))).spend_stats);
}

TEST(LedgerReplayPlanner, MatchesOnTheRequestedModelNotThePricedOne) {
  Rules r;
  r.budgets = {budget("exact", Scope::Model, Period::Day,
                      {MatchClause{Dimension::Model, "gpt-4o-mini-2024-07-18"}}),
               budget("per-model", Scope::Model, Period::Day)};
  const auto now = utc(2026, 11, 23, 12);
  const ReplayCharges charges = LedgerReplayPlanner(r, now).charges(record(now));
  ASSERT_EQ(charges.reconciliation.budgets.size(), 1u);
  EXPECT_EQ(charges.reconciliation.budgets[0].name, "per-model");
  EXPECT_EQ(charges.reconciliation.budgets[0].subject, "gpt-4o-mini");
}

TEST(LedgerReplayPlanner, APerRequestCapNeverHidesARecord) {
  Rules r = rules();
  r.request_limit.max_cost = 1;  // the record cost far more; it was settled, so it counts
  const auto now = utc(2026, 11, 23, 12);
  EXPECT_EQ(
      LedgerReplayPlanner(r, now).charges(record(now, 50 * kUsd)).reconciliation.budgets.size(),
      5u);
}

TEST(LedgerReplayPlanner, ARecordFromTheFutureIsFedToTheStatsAsNow) {
  const auto now = utc(2026, 11, 23, 12);
  const Rules r = rules();
  const LedgerReplayPlanner planner(r, now);
  const LedgerEntry later = record(now + std::chrono::minutes(5));
  EXPECT_EQ(planner.statsTime(later), now);
  EXPECT_EQ(planner.charges(later).reconciliation.budgets.size(), 5u);  // same day
  EXPECT_EQ(planner.statsTime(record(now - std::chrono::minutes(5))),
            now - std::chrono::minutes(5));
}

}  // namespace
}  // namespace spendgate::core
