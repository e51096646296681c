#include "core/enforcement/planner.hpp"

#include <gtest/gtest.h>

#include <tuple>

#include "core/enforcement/counter_key_memo.hpp"
#include "tests/core/manual_clock.hpp"

namespace spendgate::core {
namespace {

using testing::utc;
constexpr Picodollars kUsd = kPicodollarsPerUsd;

RequestAttributes alice() {
  RequestAttributes a;
  a.provider = "openai";
  a.model = "gpt-4o-mini";
  a.key = "search-team";
  a.user = "alice";
  a.team = "search";
  return a;  // no customer, no agent
}

BudgetRule budget(std::string name, Scope scope, Match match = {}) {
  BudgetRule rule;
  rule.name = std::move(name);
  rule.scope = scope;
  rule.match = std::move(match);
  rule.period = Period::Day;
  rule.limit = 10 * kUsd;
  return rule;
}

TEST(Planner, ScopeSubjects) {
  Rules rules;
  rules.budgets = {budget("g", Scope::Global), budget("k", Scope::Key), budget("u", Scope::User),
                   budget("c", Scope::Customer), budget("m", Scope::Model)};
  const auto now = utc(2026, 5, 6, 12, 30);
  const EnforcementPlan p = plan(rules, alice(), 2 * kUsd, 100, now);
  ASSERT_FALSE(p.denial);
  ASSERT_EQ(p.budgets.size(), 5u);
  EXPECT_EQ(p.budgets[0].subject, "");
  EXPECT_EQ(p.budgets[1].subject, "search-team");
  EXPECT_EQ(p.budgets[2].subject, "alice");
  EXPECT_EQ(p.budgets[3].subject, "-");  // no customer: the shared "-" counter
  EXPECT_EQ(p.budgets[4].subject, "gpt-4o-mini");
  const std::string day_start = std::to_string(unixSeconds(utc(2026, 5, 6)));
  EXPECT_EQ(p.budgets[0].counter_key, "budget:g::" + day_start);
  EXPECT_EQ(p.budgets[1].counter_key, "budget:k:search-team:" + day_start);
  EXPECT_EQ(p.budgets[3].counter_key, "budget:c:-:" + day_start);
  for (const auto& b : p.budgets) {
    EXPECT_EQ(b.amount, 2 * kUsd);
    EXPECT_EQ(b.limit, 10 * kUsd);
    EXPECT_EQ(b.window.start, utc(2026, 5, 6));
    EXPECT_EQ(b.window.end, utc(2026, 5, 7));
  }
}

TEST(Planner, EachKeyGetsItsOwnCounterAndMatchNarrows) {
  Rules rules;
  rules.budgets = {budget("per-key", Scope::Key),
                   budget("one-key", Scope::Key, {{Dimension::Key, "search-team"}})};
  RequestAttributes bob = alice();
  bob.key = "other";
  const auto now = utc(2026, 5, 6);
  const EnforcementPlan pa = plan(rules, alice(), kUsd, 0, now);
  const EnforcementPlan pb = plan(rules, bob, kUsd, 0, now);
  ASSERT_EQ(pa.budgets.size(), 2u);
  ASSERT_EQ(pb.budgets.size(), 1u);
  EXPECT_NE(pa.budgets[0].counter_key, pb.budgets[0].counter_key);
  EXPECT_EQ(pb.budgets[0].name, "per-key");
}

TEST(Planner, MatchGlobsMustAllFit) {
  Rules rules;
  rules.budgets = {
      budget("4o", Scope::Global, {{Dimension::Model, "gpt-4o*"}}),
      budget("4o-search", Scope::Global,
             {{Dimension::Model, "gpt-4o*"}, {Dimension::Team, "search"}}),
      budget("4o-ads", Scope::Global, {{Dimension::Model, "gpt-4o*"}, {Dimension::Team, "ads"}}),
      budget("claude", Scope::Global, {{Dimension::Model, "claude-*"}}),
      budget("any-agent", Scope::Global, {{Dimension::Agent, "*"}}),
      budget("has-agent", Scope::Global, {{Dimension::Agent, "?*"}}),
  };
  const EnforcementPlan p = plan(rules, alice(), kUsd, 0, utc(2026, 1, 1));
  std::vector<std::string> names;
  for (const auto& b : p.budgets) names.push_back(b.name);
  EXPECT_EQ(names, (std::vector<std::string>{"4o", "4o-search", "any-agent"}));
}

TEST(Planner, PerRequestLimit) {
  Rules rules;
  rules.request_limit.max_cost = kUsd / 2;  // $0.50
  rules.budgets = {budget("g", Scope::Global)};
  const auto now = utc(2026, 1, 1);
  const EnforcementPlan at_limit = plan(rules, alice(), kUsd / 2, 0, now);
  EXPECT_FALSE(at_limit.denial);
  EXPECT_EQ(at_limit.budgets.size(), 1u);

  const EnforcementPlan over = plan(rules, alice(), kUsd / 2 + 1, 0, now);
  ASSERT_TRUE(over.denial);
  EXPECT_EQ(over.denial->reason, DenialReason::RequestCost);
  EXPECT_NE(over.denial->message.find("$0.500000000001"), std::string::npos)
      << over.denial->message;
  EXPECT_NE(over.denial->message.find("$0.5 "), std::string::npos) << over.denial->message;
  EXPECT_TRUE(over.budgets.empty());
  EXPECT_TRUE(over.rate_limits.empty());
}

TEST(Planner, RateLimits) {
  Rules rules;
  RateLimitRule per_key;
  per_key.name = "per-key";
  per_key.scope = Scope::Key;
  per_key.requests_per_minute = 60;
  per_key.tokens_per_minute = 90000;
  per_key.concurrent = 10;
  RateLimitRule unlimited;
  unlimited.name = "nothing";
  RateLimitRule other_team = per_key;
  other_team.name = "ads";
  other_team.match = {{Dimension::Team, "ads"}};
  rules.rate_limits = {per_key, unlimited, other_team};
  const EnforcementPlan p = plan(rules, alice(), 0, 1234, utc(2026, 1, 1));
  ASSERT_EQ(p.rate_limits.size(), 1u);
  const RateCharge& c = p.rate_limits[0];
  EXPECT_EQ(c.key, "rate:per-key:search-team");
  EXPECT_EQ(c.requests_per_minute, 60);
  EXPECT_EQ(c.tokens_per_minute, 90000);
  EXPECT_EQ(c.concurrent, 10);
  EXPECT_EQ(c.tokens, 1234);
}

TEST(Planner, SpendCounterForAutoStop) {
  Rules rules;
  EXPECT_FALSE(plan(rules, alice(), 0, 0, utc(2026, 1, 1)).spend);
  EXPECT_TRUE(plan(rules, alice(), 0, 0, utc(2026, 1, 1)).empty());
  rules.emergency_stop.auto_stop = EmergencyStopRule::Auto{500 * kUsd, Period::Month, {}};
  const EnforcementPlan p = plan(rules, alice(), 0, 0, utc(2026, 1, 15));
  ASSERT_TRUE(p.spend);
  EXPECT_EQ(p.spend->key, "spend:month:" + std::to_string(unixSeconds(utc(2026, 1, 1))));
  EXPECT_EQ(p.spend->window.end, utc(2026, 2, 1));
  EXPECT_FALSE(p.empty());
}

TEST(Planner, NegativeInputsClamp) {
  Rules rules;
  rules.budgets = {budget("g", Scope::Global)};
  const EnforcementPlan p = plan(rules, alice(), -5, -7, utc(2026, 1, 1));
  EXPECT_EQ(p.worst_case_cost, 0);
  EXPECT_EQ(p.token_estimate, 0);
  EXPECT_EQ(p.budgets[0].amount, 0);
}

TEST(Planner, UnbillableRequestsChargeNoBudgetButKeepRateLimits) {
  Rules rules;
  rules.budgets = {budget("g", Scope::Global)};
  rules.budgets[0].limit = 0;  // a spent-out budget must not refuse a free request either
  RateLimitRule rate;
  rate.name = "r";
  rate.scope = Scope::Key;
  rate.requests_per_minute = 5;
  rules.rate_limits = {rate};
  const EnforcementPlan p = plan(rules, alice(), 0, 0, utc(2026, 1, 1), Spending::Free);
  EXPECT_FALSE(p.denial);
  EXPECT_TRUE(p.budgets.empty());
  ASSERT_EQ(p.rate_limits.size(), 1u);
  EXPECT_EQ(plan(rules, alice(), 0, 0, utc(2026, 1, 1)).budgets.size(), 1u);
}

TEST(Planner, UnpricedPaidRequestsHoldTheSmallestAmountOnEveryBudget) {
  Rules rules;
  rules.budgets = {budget("g", Scope::Global), budget("k", Scope::Key)};
  rules.request_limit.max_cost = 0;  // nothing to estimate, so no per-request limit refuses it
  const EnforcementPlan p = plan(rules, alice(), 0, 0, utc(2026, 1, 1), Spending::Unpriced);
  EXPECT_FALSE(p.denial);
  ASSERT_EQ(p.budgets.size(), 2u);
  for (const BudgetCharge& b : p.budgets) {
    EXPECT_TRUE(b.unpriced);
    EXPECT_EQ(b.amount, kUnpricedAmount);
  }
  EXPECT_EQ(p.worst_case_cost, 0);
  EXPECT_FALSE(plan(rules, alice(), 0, 0, utc(2026, 1, 1)).budgets[0].unpriced);
}

void expectSamePlan(const EnforcementPlan& a, const EnforcementPlan& b) {
  EXPECT_EQ(a.now, b.now);
  EXPECT_EQ(a.worst_case_cost, b.worst_case_cost);
  EXPECT_EQ(a.token_estimate, b.token_estimate);
  EXPECT_EQ(a.denial.has_value(), b.denial.has_value());
  if (a.denial && b.denial) {
    EXPECT_EQ(a.denial->message, b.denial->message);
  }
  EXPECT_EQ(a.output_cap.field, b.output_cap.field);
  EXPECT_EQ(a.output_cap.set, b.output_cap.set);
  ASSERT_EQ(a.rate_limits.size(), b.rate_limits.size());
  for (std::size_t i = 0; i < a.rate_limits.size(); ++i) {
    const RateCharge& x = a.rate_limits[i];
    const RateCharge& y = b.rate_limits[i];
    EXPECT_EQ(std::tie(x.key, x.name, x.scope, x.subject, x.requests_per_minute,
                       x.tokens_per_minute, x.concurrent, x.tokens),
              std::tie(y.key, y.name, y.scope, y.subject, y.requests_per_minute,
                       y.tokens_per_minute, y.concurrent, y.tokens));
  }
  ASSERT_EQ(a.budgets.size(), b.budgets.size());
  for (std::size_t i = 0; i < a.budgets.size(); ++i) {
    const BudgetCharge& x = a.budgets[i];
    const BudgetCharge& y = b.budgets[i];
    EXPECT_EQ(std::tie(x.counter_key, x.name, x.scope, x.subject, x.period, x.window, x.limit,
                       x.amount, x.mode, x.unpriced),
              std::tie(y.counter_key, y.name, y.scope, y.subject, y.period, y.window, y.limit,
                       y.amount, y.mode, y.unpriced));
  }
  EXPECT_EQ(a.spend.has_value(), b.spend.has_value());
  if (a.spend && b.spend) {
    EXPECT_EQ(std::tie(a.spend->key, a.spend->period, a.spend->window),
              std::tie(b.spend->key, b.spend->period, b.spend->window));
  }
}

TEST(Planner, PlanIntoAReusedPlanIsAFreshPlan) {
  // One plan object filled again and again (as each worker does) must hold exactly what plan()
  // returns each time, whatever the previous request left in it: more or fewer charges,
  // other subjects, a denial, a spend counter.
  Rules wide;
  wide.budgets = {budget("g", Scope::Global), budget("k", Scope::Key), budget("u", Scope::User),
                  budget("c", Scope::Customer)};
  wide.budgets[3].mode = BudgetMode::Soft;
  RateLimitRule per_key;
  per_key.name = "per-key";
  per_key.scope = Scope::Key;
  per_key.requests_per_minute = 60;
  per_key.concurrent = 3;
  RateLimitRule per_user = per_key;
  per_user.name = "per-user";
  per_user.scope = Scope::User;
  per_user.tokens_per_minute = 500;
  wide.rate_limits = {per_key, per_user};
  wide.emergency_stop.auto_stop = EmergencyStopRule::Auto{500 * kUsd, Period::Month, {}};
  Rules narrow;
  narrow.budgets = {budget("team-only", Scope::Team, {{Dimension::Team, "ads"}})};
  narrow.rate_limits = {per_user};
  Rules limited = narrow;
  limited.request_limit.max_cost = kUsd;
  RequestAttributes bob = alice();
  bob.key = "other-key";
  bob.user = "";
  bob.team = "ads";

  struct Case {
    const Rules* rules;
    RequestAttributes attributes;
    Picodollars worst;
    std::int64_t tokens;
    Spending spending;
    OutputCap cap;
  };
  const Case cases[] = {
      {&wide, alice(), 2 * kUsd, 100, Spending::Priced, {}},
      {&narrow, bob, kUsd / 2, 7, Spending::Priced, {"max_tokens", false}},
      {&wide, bob, 3, 0, Spending::Unpriced, {}},
      {&limited, alice(), 2 * kUsd, 5, Spending::Priced, {"max_tokens", true}},
      {&wide, alice(), kUsd, 9, Spending::Free, {}},
      {&narrow, alice(), 0, 0, Spending::Priced, {}},
      {&wide, alice(), 2 * kUsd, 100, Spending::Priced, {}},
  };
  for (const bool memo : {false, true}) {
    CounterKeyMemo keys;
    EnforcementPlan reused;
    for (const Case& c : cases) {
      const auto now = utc(2026, 5, 6, 12, 30);
      planInto(reused, *c.rules, c.attributes, c.worst, c.tokens, now, c.spending, c.cap,
               memo ? &keys : nullptr);
      expectSamePlan(reused,
                     plan(*c.rules, c.attributes, c.worst, c.tokens, now, c.spending, c.cap));
    }
  }
}

TEST(Planner, KeysEscapeSeparatorsAndHashTags) {
  EXPECT_EQ(escapeKeyPart("a:b{c}%d e"), "a%3Ab%7Bc%7D%25d%20e");
  // Different (name, subject) pairs can no longer produce the same key.
  EXPECT_NE(budgetCounterKey("a:b", "c", {}), budgetCounterKey("a", "b:c", {}));
  EXPECT_EQ(rateLimitKey("r", "x:y"), "rate:r:x%3Ay");
}

TEST(Scope, NamesAndSubjects) {
  EXPECT_EQ(scopeFromName("global"), Scope::Global);
  EXPECT_EQ(scopeFromName("agent"), Scope::Agent);
  EXPECT_EQ(scopeFromName("team"), Scope::Team);
  EXPECT_EQ(scopeFromName("teams"), std::nullopt);
  for (Scope s : {Scope::Global, Scope::Provider, Scope::Model, Scope::Key, Scope::User,
                  Scope::Team, Scope::Customer, Scope::Agent}) {
    EXPECT_EQ(scopeFromName(scopeName(s)), s);
  }
  EXPECT_EQ(dimensionFromName("customer"), Dimension::Customer);
  EXPECT_EQ(counterSubject(Scope::Team, alice()), "search");
  EXPECT_EQ(counterSubject(Scope::Agent, alice()), "-");
  EXPECT_EQ(counterSubject(Scope::Global, alice()), "");
}

TEST(Rules, PicodollarsFromUsd) {
  EXPECT_EQ(picodollarsFromUsd(500), 500 * kUsd);
  EXPECT_EQ(picodollarsFromUsd(0.5), kUsd / 2);
  EXPECT_EQ(picodollarsFromUsd(0.000001), 1'000'000);
  EXPECT_EQ(picodollarsFromUsd(-1), std::nullopt);
  EXPECT_EQ(picodollarsFromUsd(1e7), std::nullopt);
}

TEST(PlannerKeys, EveryByteIsEscapedAsBefore) {
  // The key builders append in place; the keys must be the ones the stores already hold.
  const auto reference_escape = [](std::string_view part) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (const char c : part) {
      const auto byte = static_cast<unsigned char>(c);
      if (c == '%' || c == ':' || c == '{' || c == '}' || byte < 0x21 || byte == 0x7f) {
        out.push_back('%');
        out.push_back(kHex[byte >> 4]);
        out.push_back(kHex[byte & 0x0f]);
      } else {
        out.push_back(c);
      }
    }
    return out;
  };
  std::string all;
  for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  for (const std::string& part :
       {std::string(), std::string("org"), std::string("per-key"), std::string("fp_0123456789ab"),
        std::string("a:b{c}%d e"), std::string(":::"), all, all + "tail"}) {
    EXPECT_EQ(escapeKeyPart(part), reference_escape(part));
    const auto start = std::chrono::system_clock::time_point(std::chrono::seconds(1763856000));
    EXPECT_EQ(budgetCounterKey(part, "team:" + part, start),
              "budget:" + reference_escape(part) + ":" + reference_escape("team:" + part) +
                  ":1763856000");
    EXPECT_EQ(rateLimitKey(part, part + "}"),
              "rate:" + reference_escape(part) + ":" + reference_escape(part + "}"));
    std::string appended = "x";
    appendEscapedKeyPart(appended, part);
    EXPECT_EQ(appended, "x" + reference_escape(part));
  }
  EXPECT_EQ(
      budgetCounterKey("b", "", std::chrono::system_clock::time_point(std::chrono::seconds(-5))),
      "budget:b::-5");
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1763856123));
  EXPECT_EQ(spendCounterKey(Period::Day, now),
            "spend:day:" + std::to_string(unixSeconds(periodWindow(Period::Day, now).start)));
  EXPECT_EQ(spendCounterKey(Period::Month, now),
            "spend:month:" + std::to_string(unixSeconds(periodWindow(Period::Month, now).start)));
}

}  // namespace
}  // namespace spendgate::core
