#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/enforcement/rules.hpp"
#include "core/stats/spend_stats.hpp"
#include "core/store/counter_store_types.hpp"
#include "proxy/net.hpp"

// Admin API reports (SPEC §5): GET /admin/spend and GET /admin/budgets.
namespace spendgate::proxy {

class Enforcer;

using AdminRequest = boost::beast::http::request<boost::beast::http::string_body>;
using AdminResponse = boost::beast::http::response<boost::beast::http::string_body>;

/** What `GET /admin/spend?by=...&period=...` asks for. */
struct SpendQuery {
  core::Dimension by = core::Dimension::Model;
  core::Period period = core::Period::Day;
};

/**
 * Parses the query string of /admin/spend: `by` (provider|model|key|user|team|customer|agent,
 * default model) and `period` (hour|day|week|month, default day). Any other parameter is refused.
 * @param target the request target, e.g. "/admin/spend?by=key&period=week"
 * @return the query, or nullopt with `error` set to a message for a 400
 */
std::optional<SpendQuery> parseSpendQuery(std::string_view target, std::string& error);

/**
 * `{"period","from","to","total_usd","requests","groups":[...]}` as JSON text. Money is an exact
 * decimal number of USD (core::formatUsd: sums agree with the ledger to the picodollar); times
 * are RFC 3339 UTC.
 */
std::string spendReportJson(const core::SpendReport& report);

/**
 * One budget counter as the admin API shows it. reserved = in-flight worst cases plus leased
 * slices (BudgetSnapshot::reservedShown); remaining = max(0, limit - spent - reserved);
 * used_ratio = spent / limit (0 for a zero limit); projected_usd = spent / elapsed x period
 * length (linear, elapsed at least one second), = spent for `total` periods and never below spent.
 */
std::string budgetJson(const core::BudgetSnapshot& budget,
                       std::chrono::system_clock::time_point now);

/**
 * The budget list. With `rules` (the budgets in force) it is core::listBudgets: the counters of
 * budgets in force plus a zero row for each budget whose subject the config fixes (global, or a
 * literal `match` on the scope's dimension) and that nothing charged this period yet, so a
 * configured budget shows up before its first request and a removed one disappears. With
 * nullptr, the store's counters as they are. Order: name, then subject.
 */
std::string budgetsJson(const std::vector<core::BudgetSnapshot>& budgets,
                        const std::vector<core::BudgetRule>* rules,
                        std::chrono::system_clock::time_point now);

/** GET /admin/spend: 200 with spendReportJson, 400 bad query, 405 not GET, 503 store error. */
net::awaitable<AdminResponse> handleSpend(const AdminRequest& request,
                                          core::SpendRecorder& recorder);

/** GET /admin/budgets: 200 with budgetsJson, 405 not GET, 503 when the store fails. */
net::awaitable<AdminResponse> handleBudgets(const AdminRequest& request,
                                            Enforcer& enforcer,
                                            const std::vector<core::BudgetRule>* rules = nullptr);

}  // namespace spendgate::proxy
