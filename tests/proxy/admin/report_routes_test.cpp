#include "proxy/admin/report_routes.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include "core/ledger/ledger_entry.hpp"
#include "core/store/memory_counter_store.hpp"
#include "proxy/enforcement/enforcer.hpp"
#include "proxy/logging/logger.hpp"

namespace spendgate::proxy {
namespace {

namespace http = beast::http;
using std::chrono::system_clock;
using namespace std::chrono_literals;

system_clock::time_point utc(int y, unsigned m, unsigned d, int hh = 0, int mm = 0) {
  using namespace std::chrono;
  return system_clock::time_point(sys_days(year{y} / month{m} / day{d})) + hours{hh} + minutes{mm};
}

AdminRequest get(std::string target) {
  AdminRequest request{http::verb::get, target, 11};
  return request;
}

template <class Awaitable>
AdminResponse run(Awaitable awaitable) {
  net::io_context context;
  auto future = net::co_spawn(context, std::move(awaitable), net::use_future);
  context.run();
  return future.get();
}

boost::json::value parse(const std::string& text) {
  boost::system::error_code ec;
  auto value = boost::json::parse(text, ec);
  EXPECT_FALSE(ec) << text;
  return value;
}

std::vector<std::string> keysOf(const boost::json::object& object) {
  std::vector<std::string> keys;
  for (const auto& item : object) keys.emplace_back(item.key());
  return keys;
}

core::SettledRequest req(std::string model, core::Picodollars cost, std::string key = "k1") {
  core::SettledRequest r;
  r.provider = "openai";
  r.model = std::move(model);
  r.key = std::move(key);
  r.cost = cost;
  r.input_tokens = 1000;
  r.cached_input_tokens = 400;
  r.output_tokens = 200;
  return r;
}

TEST(SpendQuery, DefaultsAndChoices) {
  std::string error;
  auto q = parseSpendQuery("/admin/spend", error);
  ASSERT_TRUE(q);
  EXPECT_EQ(q->by, core::Dimension::Model);
  EXPECT_EQ(q->period, core::Period::Day);
  q = parseSpendQuery("/admin/spend?by=customer&period=month", error);
  ASSERT_TRUE(q);
  EXPECT_EQ(q->by, core::Dimension::Customer);
  EXPECT_EQ(q->period, core::Period::Month);
  q = parseSpendQuery("/admin/spend?period=hour", error);
  ASSERT_TRUE(q);
  EXPECT_EQ(q->period, core::Period::Hour);

  EXPECT_FALSE(parseSpendQuery("/admin/spend?by=colour", error));
  EXPECT_EQ(error,
            "by must be one of provider, model, key, user, team, customer, agent (got 'colour')");
  EXPECT_FALSE(parseSpendQuery("/admin/spend?period=minute", error));
  EXPECT_EQ(error, "period must be one of hour, day, week, month (got 'minute')");
  EXPECT_FALSE(parseSpendQuery("/admin/spend?period=total", error));
  EXPECT_FALSE(parseSpendQuery("/admin/spend?by=model&by=key", error));
  EXPECT_FALSE(parseSpendQuery("/admin/spend?group=model", error));
  EXPECT_NE(error.find("unknown parameter 'group'"), std::string::npos);
}

TEST(SpendQuery, EmptyParametersAreSkipped) {
  std::string error;
  for (const char* target : {"/admin/spend?", "/admin/spend?&", "/admin/spend?by=model&",
                             "/admin/spend?&by=model", "/admin/spend?by=model&&period=week"}) {
    auto q = parseSpendQuery(target, error);
    ASSERT_TRUE(q) << target << ": " << error;
    EXPECT_EQ(q->by, core::Dimension::Model) << target;
  }
  EXPECT_EQ(parseSpendQuery("/admin/spend?by=model&&period=week", error)->period,
            core::Period::Week);
  // A real unknown name, even after an empty one, is still refused by name.
  EXPECT_FALSE(parseSpendQuery("/admin/spend?&colour=red", error));
  EXPECT_NE(error.find("unknown parameter 'colour'"), std::string::npos) << error;
  EXPECT_FALSE(parseSpendQuery("/admin/spend?by=", error));
}

TEST(SpendReportJson, ShapeAndExactMoney) {
  core::SpendStats stats;
  const auto now = utc(2026, 3, 4, 10);
  stats.record(req("gpt-4o-mini", 240'000'000), now);
  stats.record(req("gpt-4o-mini", 240'000'000, "k2"), now);
  stats.record(req("claude \"quoted\"", 13'275'000'000), now);
  const auto json =
      parse(spendReportJson(stats.report(core::Dimension::Model, core::Period::Day, now)));
  const auto& o = json.as_object();
  EXPECT_EQ(keysOf(o),
            (std::vector<std::string>{"period", "from", "to", "total_usd", "requests", "groups"}));
  EXPECT_EQ(o.at("period"), "day");
  EXPECT_EQ(o.at("from"), "2026-03-04T00:00:00.000Z");
  EXPECT_EQ(o.at("to"), "2026-03-05T00:00:00.000Z");
  EXPECT_DOUBLE_EQ(o.at("total_usd").as_double(), 0.013755);
  EXPECT_EQ(o.at("requests"), 3);
  const auto& groups = o.at("groups").as_array();
  ASSERT_EQ(groups.size(), 2u);
  const auto& first = groups[0].as_object();
  EXPECT_EQ(keysOf(first), (std::vector<std::string>{"key", "spend_usd", "requests", "input_tokens",
                                                     "cached_input_tokens", "output_tokens"}));
  EXPECT_EQ(first.at("key"), "claude \"quoted\"");
  EXPECT_DOUBLE_EQ(first.at("spend_usd").as_double(), 0.013275);
  EXPECT_EQ(groups[1].at("key"), "gpt-4o-mini");
  EXPECT_EQ(groups[1].at("requests"), 2);
  EXPECT_EQ(groups[1].at("input_tokens"), 2000);
  EXPECT_EQ(groups[1].at("cached_input_tokens"), 800);
  EXPECT_EQ(groups[1].at("output_tokens"), 400);
  // Money is written as an exact decimal, never in exponent form.
  const std::string text =
      spendReportJson(stats.report(core::Dimension::Model, core::Period::Day, now));
  EXPECT_NE(text.find("\"total_usd\":0.013755,"), std::string::npos) << text;
  EXPECT_NE(text.find("\"spend_usd\":0.00048,"), std::string::npos) << text;
}

TEST(SpendReportJson, EmptyReport) {
  core::SpendStats stats;
  const auto json = parse(
      spendReportJson(stats.report(core::Dimension::Key, core::Period::Month, utc(2026, 12, 9))));
  EXPECT_EQ(json.at("period"), "month");
  EXPECT_EQ(json.at("from"), "2026-12-01T00:00:00.000Z");
  EXPECT_EQ(json.at("to"), "2027-01-01T00:00:00.000Z");
  EXPECT_EQ(json.at("total_usd"), 0);
  EXPECT_EQ(json.at("requests"), 0);
  EXPECT_TRUE(json.at("groups").as_array().empty());
}

core::BudgetSnapshot snapshot(core::Period period, core::PeriodWindow window) {
  core::BudgetSnapshot b;
  b.counter_key = "budget:org:x";
  b.name = "org-daily";
  b.scope = core::Scope::Team;
  b.subject = "search";
  b.period = period;
  b.window = window;
  b.limit = 500 * core::kPicodollarsPerUsd;
  b.spent = 100 * core::kPicodollarsPerUsd;
  b.reserved = core::kPicodollarsPerUsd / 2;
  b.mode = core::BudgetMode::Hard;
  return b;
}

TEST(BudgetJson, LeasedSlicesCountAsReservedSoTheFiguresAddUpToTheLimit) {
  auto b = snapshot(core::Period::Day, {utc(2026, 3, 4), utc(2026, 3, 5)});
  b.leased = 20 * core::kPicodollarsPerUsd;
  const auto json = parse(budgetJson(b, utc(2026, 3, 4, 6)));
  const auto& o = json.as_object();
  EXPECT_EQ(o.at("spent_usd"), 100);
  EXPECT_DOUBLE_EQ(o.at("reserved_usd").as_double(), 20.5);  // 0.5 in flight + 20 leased
  EXPECT_DOUBLE_EQ(o.at("remaining_usd").as_double(), 379.5);
  EXPECT_DOUBLE_EQ(o.at("used_ratio").as_double(), 0.2);  // spent only, as without leases
  EXPECT_EQ(o.at("projected_usd"), 400);
  // Slices beyond the limit (it was lowered by a reload): nothing remains.
  b.leased = 1000 * core::kPicodollarsPerUsd;
  const auto over = parse(budgetJson(b, utc(2026, 3, 4, 6)));
  EXPECT_EQ(over.at("remaining_usd"), 0);
  EXPECT_DOUBLE_EQ(over.at("reserved_usd").as_double(), 1000.5);
}

TEST(BudgetJson, ShapeRatiosAndProjection) {
  // A quarter of the day gone with 100 USD spent: projected 400 USD.
  const auto b = snapshot(core::Period::Day, {utc(2026, 3, 4), utc(2026, 3, 5)});
  const auto json = parse(budgetJson(b, utc(2026, 3, 4, 6)));
  const auto& o = json.as_object();
  EXPECT_EQ(keysOf(o),
            (std::vector<std::string>{"name", "scope", "subject", "period", "period_start",
                                      "period_end", "limit_usd", "spent_usd", "reserved_usd",
                                      "remaining_usd", "used_ratio", "projected_usd", "mode"}));
  EXPECT_EQ(o.at("name"), "org-daily");
  EXPECT_EQ(o.at("scope"), "team");
  EXPECT_EQ(o.at("subject"), "search");
  EXPECT_EQ(o.at("period"), "day");
  EXPECT_EQ(o.at("period_start"), "2026-03-04T00:00:00.000Z");
  EXPECT_EQ(o.at("period_end"), "2026-03-05T00:00:00.000Z");
  EXPECT_EQ(o.at("limit_usd"), 500);
  EXPECT_EQ(o.at("spent_usd"), 100);
  EXPECT_DOUBLE_EQ(o.at("reserved_usd").as_double(), 0.5);
  EXPECT_DOUBLE_EQ(o.at("remaining_usd").as_double(), 399.5);
  EXPECT_DOUBLE_EQ(o.at("used_ratio").as_double(), 0.2);
  EXPECT_EQ(o.at("projected_usd"), 400);
  EXPECT_EQ(o.at("mode"), "hard");
}

TEST(BudgetJson, EdgeCases) {
  // Over the limit (a soft budget): remaining 0, ratio above 1.
  auto b = snapshot(core::Period::Month, {utc(2026, 3, 1), utc(2026, 4, 1)});
  b.mode = core::BudgetMode::Soft;
  b.spent = 600 * core::kPicodollarsPerUsd;
  b.reserved = 0;
  auto json = parse(budgetJson(b, utc(2026, 4, 1) - 1s));
  EXPECT_EQ(json.at("remaining_usd"), 0);
  EXPECT_DOUBLE_EQ(json.at("used_ratio").as_double(), 1.2);
  EXPECT_EQ(json.at("mode"), "soft");
  EXPECT_GE(json.at("projected_usd").to_number<double>(), 600.0);
  // The first second: projection does not divide by zero.
  json = parse(budgetJson(b, utc(2026, 3, 1)));
  EXPECT_GT(json.at("projected_usd").to_number<double>(), 600.0);
  // Total periods project what is spent.
  b.period = core::Period::Total;
  b.window = core::periodWindow(core::Period::Total, utc(2026, 3, 1));
  json = parse(budgetJson(b, utc(2026, 3, 1)));
  EXPECT_EQ(json.at("projected_usd"), 600);
  // ... and never end: period_end is null, not the 2200 sentinel.
  EXPECT_TRUE(json.at("period_end").is_null());
  EXPECT_EQ(json.at("period_start"), "1970-01-01T00:00:00.000Z");
  // A zero limit: ratio 0, nothing remaining.
  b.limit = 0;
  json = parse(budgetJson(b, utc(2026, 3, 1)));
  EXPECT_EQ(json.at("used_ratio"), 0);
  EXPECT_EQ(json.at("remaining_usd"), 0);
}

TEST(BudgetsJson, BudgetsInForceWithoutCountersShowAsZeroAndRemovedOnesDisappear) {
  const auto now = utc(2026, 3, 4, 12);
  auto removed = snapshot(core::Period::Day, core::periodWindow(core::Period::Day, now));
  removed.name = "removed-by-reload";
  std::vector<core::BudgetSnapshot> counters = {
      snapshot(core::Period::Day, core::periodWindow(core::Period::Day, now)), removed};
  core::BudgetRule global;
  global.name = "all-monthly";
  global.scope = core::Scope::Global;
  global.period = core::Period::Month;
  global.limit = 1000 * core::kPicodollarsPerUsd;
  core::BudgetRule per_team;  // no subject known before a request: not listed
  per_team.name = "per-team";
  per_team.scope = core::Scope::Team;
  core::BudgetRule org;  // the rule of snapshot()'s counter
  org.name = "org-daily";
  org.scope = core::Scope::Team;
  org.limit = 500 * core::kPicodollarsPerUsd;
  const std::vector<core::BudgetRule> rules = {global, per_team, org};

  const auto json = parse(budgetsJson(counters, &rules, now));
  const auto& list = json.as_array();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].at("name"), "all-monthly");
  EXPECT_EQ(list[0].at("subject"), "");
  EXPECT_EQ(list[0].at("spent_usd"), 0);
  EXPECT_EQ(list[0].at("reserved_usd"), 0);
  EXPECT_EQ(list[0].at("limit_usd"), 1000);
  EXPECT_EQ(list[0].at("remaining_usd"), 1000);
  EXPECT_EQ(list[0].at("period_start"), "2026-03-01T00:00:00.000Z");
  EXPECT_EQ(list[0].at("period_end"), "2026-04-01T00:00:00.000Z");
  EXPECT_EQ(list[1].at("name"), "org-daily");
  EXPECT_EQ(list[1].at("spent_usd"), 100);
  // Without rules: the store's counters as they are.
  EXPECT_EQ(parse(budgetsJson(counters, nullptr, now)).as_array().size(), 2u);
  EXPECT_EQ(parse(budgetsJson({}, nullptr, now)).as_array().size(), 0u);
}

TEST(ReportRoutes, SpendHandler) {
  core::SpendStats stats;
  stats.record(req("gpt-4o-mini", 240'000'000), system_clock::now());
  auto response = run(handleSpend(get("/admin/spend?by=key"), stats));
  EXPECT_EQ(response.result(), http::status::ok);
  EXPECT_EQ(response[http::field::content_type], "application/json");
  auto json = parse(response.body());
  EXPECT_EQ(json.at("period"), "day");
  ASSERT_EQ(json.at("groups").as_array().size(), 1u);
  EXPECT_EQ(json.at("groups").as_array()[0].at("key"), "k1");

  response = run(handleSpend(get("/admin/spend?by=nope"), stats));
  EXPECT_EQ(response.result(), http::status::bad_request);
  EXPECT_NE(parse(response.body()).at("error").as_string().find("by must be one of"),
            std::string::npos);

  AdminRequest post{http::verb::post, "/admin/spend", 11};
  response = run(handleSpend(post, stats));
  EXPECT_EQ(response.result(), http::status::method_not_allowed);
  EXPECT_EQ(response[http::field::allow], "GET, HEAD");
  // HEAD is answered as GET (the admin server leaves the body out when it writes it).
  AdminRequest head{http::verb::head, "/admin/spend?by=key", 11};
  EXPECT_EQ(run(handleSpend(head, stats)).result(), http::status::ok);
}

class FailingRecorder final : public core::SpendRecorder {
public:
  void record(const core::SettledRequest&, system_clock::time_point) override {}
  void query(core::Dimension, core::Period, system_clock::time_point, QueryCallback cb) override {
    cb(core::StoreResult<core::SpendReport>::failure("redis down"));
  }
};

TEST(ReportRoutes, SpendHandlerStoreFailureIs503) {
  FailingRecorder recorder;
  const auto response = run(handleSpend(get("/admin/spend"), recorder));
  EXPECT_EQ(response.result(), http::status::service_unavailable);
  EXPECT_NE(response.body().find("redis down"), std::string::npos);
}

TEST(ReportRoutes, BudgetsHandlerReadsTheLiveStore) {
  Logger logger(config::LoggingConfig{config::LoggingConfig::Format::Text, "off"});
  auto store = std::make_shared<core::MemoryCounterStore>();
  Enforcer enforcer(store, config::RedisConfig::OnUnavailable::FailClosed, logger);

  const auto now = system_clock::now();
  core::EnforcementPlan plan;
  plan.now = now;
  core::BudgetCharge charge;
  charge.window = core::periodWindow(core::Period::Day, now);
  charge.counter_key = "budget:daily::" + std::to_string(core::unixSeconds(charge.window.start));
  charge.name = "daily";
  charge.period = core::Period::Day;
  charge.limit = 10 * core::kPicodollarsPerUsd;
  charge.amount = 2 * core::kPicodollarsPerUsd;  // reserved worst case
  plan.budgets.push_back(charge);
  plan.worst_case_cost = charge.amount;

  bool admitted = false;
  store->admit(plan, "r1", now + 1h, [&](core::AdmissionResult r) { admitted = r.allowed(); });
  ASSERT_TRUE(admitted);
  store->admit(plan, "r2", now + 1h, [&](core::AdmissionResult r) { admitted = r.allowed(); });
  ASSERT_TRUE(admitted);
  store->settle({"r1", core::kPicodollarsPerUsd / 4, 100, now}, [](auto) {});

  const auto response = run(handleBudgets(get("/admin/budgets"), enforcer));
  ASSERT_EQ(response.result(), http::status::ok) << response.body();
  const auto json = parse(response.body());
  ASSERT_EQ(json.as_array().size(), 1u);
  const auto& b = json.as_array()[0];
  EXPECT_EQ(b.at("name"), "daily");
  EXPECT_EQ(b.at("scope"), "global");
  EXPECT_EQ(b.at("subject"), "");
  EXPECT_EQ(b.at("period"), "day");
  EXPECT_EQ(b.at("limit_usd"), 10);
  EXPECT_DOUBLE_EQ(b.at("spent_usd").as_double(), 0.25);
  EXPECT_EQ(b.at("reserved_usd"), 2);
  EXPECT_DOUBLE_EQ(b.at("remaining_usd").as_double(), 7.75);
  EXPECT_DOUBLE_EQ(b.at("used_ratio").as_double(), 0.025);
  EXPECT_EQ(b.at("mode"), "hard");
  EXPECT_EQ(b.at("period_start").as_string(), core::formatRfc3339(charge.window.start));

  AdminRequest del{http::verb::delete_, "/admin/budgets", 11};
  EXPECT_EQ(run(handleBudgets(del, enforcer)).result(), http::status::method_not_allowed);
  AdminRequest head{http::verb::head, "/admin/budgets", 11};
  EXPECT_EQ(run(handleBudgets(head, enforcer)).result(), http::status::ok);
}

}  // namespace
}  // namespace spendgate::proxy
