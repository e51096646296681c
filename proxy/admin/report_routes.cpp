#include "proxy/admin/report_routes.hpp"

#include <algorithm>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <charconv>
#include <limits>
#include <set>
#include <tuple>

#include "core/ledger/ledger_entry.hpp"
#include "core/store/budget_listing.hpp"
#include "proxy/await_callback.hpp"
#include "proxy/enforcement/enforcer.hpp"

namespace spendgate::proxy {

namespace http = beast::http;

namespace {

using std::chrono::system_clock;

constexpr std::string_view kByChoices = "provider, model, key, user, team, customer, agent";
constexpr std::string_view kPeriodChoices = "hour, day, week, month";

std::string quoted(std::string_view text) {
  return boost::json::serialize(boost::json::string_view(text.data(), text.size()));
}

// A fraction as a plain decimal with at most 6 places ("0.25", "1", "0.000001").
std::string decimal(double value) {
  if (!(value >= 0) || value > 1e15) value = value > 0 ? 1e15 : 0;  // NaN, negative, absurd
  char buffer[64];
  auto [end, ec] =
      std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed, 6);
  std::string out(buffer, ec == std::errc{} ? end : buffer);
  if (out.find('.') != std::string::npos) {
    while (out.ends_with('0')) out.pop_back();
    if (out.ends_with('.')) out.pop_back();
  }
  return out.empty() ? "0" : out;
}

std::string usd(core::Picodollars amount) {
  return core::formatUsd(std::max<core::Picodollars>(amount, 0));
}

AdminResponse jsonResponse(http::status status, std::string body) {
  AdminResponse response{status, 11};
  response.set(http::field::content_type, "application/json");
  response.set(http::field::cache_control, "no-store");
  response.body() = std::move(body);
  return response;
}

AdminResponse errorResponse(http::status status, std::string_view message) {
  return jsonResponse(status, "{\"error\":" + quoted(message) + "}");
}

// spent / elapsed x length, in picodollars, never below spent.
core::Picodollars projected(const core::BudgetSnapshot& budget, system_clock::time_point now) {
  if (budget.period == core::Period::Total || budget.spent <= 0)
    return std::max<core::Picodollars>(budget.spent, 0);
  using std::chrono::milliseconds;
  const auto length =
      std::chrono::duration_cast<milliseconds>(budget.window.end - budget.window.start).count();
  auto elapsed = std::chrono::duration_cast<milliseconds>(now - budget.window.start).count();
  elapsed = std::clamp<std::int64_t>(elapsed, 1000, std::max<std::int64_t>(length, 1000));
  const __int128 value = static_cast<__int128>(budget.spent) * length / elapsed;
  constexpr __int128 kMax = std::numeric_limits<core::Picodollars>::max();
  return std::max<core::Picodollars>(budget.spent,
                                     static_cast<core::Picodollars>(std::min(value, kMax)));
}

}  // namespace

std::optional<SpendQuery> parseSpendQuery(std::string_view target, std::string& error) {
  SpendQuery query;
  auto url = boost::urls::parse_origin_form(target);
  if (!url) {
    error = "cannot read the query string";
    return std::nullopt;
  }
  std::set<std::string> seen;
  for (const auto& param : url->params()) {
    // "?" alone, "&&" and a trailing "&" are empty parameters, not unknown ones.
    if (param.key.empty() && param.value.empty()) continue;
    if (!seen.insert(param.key).second) {
      error = "parameter '" + param.key + "' given twice";
      return std::nullopt;
    }
    if (param.key == "by") {
      auto dimension = core::dimensionFromName(param.value);
      if (!dimension) {
        error = "by must be one of " + std::string(kByChoices) + " (got '" + param.value + "')";
        return std::nullopt;
      }
      query.by = *dimension;
    } else if (param.key == "period") {
      auto period = core::periodFromName(param.value);
      if (!period || !core::isSpendPeriod(*period)) {
        error =
            "period must be one of " + std::string(kPeriodChoices) + " (got '" + param.value + "')";
        return std::nullopt;
      }
      query.period = *period;
    } else {
      error = "unknown parameter '" + param.key + "' (use by= and period=)";
      return std::nullopt;
    }
  }
  return query;
}

std::string spendReportJson(const core::SpendReport& report) {
  std::string out;
  out.reserve(256 + report.groups.size() * 160);
  out += "{\"period\":";
  out += quoted(core::periodName(report.period));
  out += ",\"from\":";
  out += quoted(core::formatRfc3339(report.window.start));
  out += ",\"to\":";
  out += quoted(core::formatRfc3339(report.window.end));
  out += ",\"total_usd\":";
  out += usd(report.total.spend);
  out += ",\"requests\":";
  out += std::to_string(report.total.requests);
  out += ",\"groups\":[";
  bool first = true;
  for (const auto& group : report.groups) {
    if (!first) out += ',';
    first = false;
    out += "{\"key\":";
    out += quoted(group.key);
    out += ",\"spend_usd\":";
    out += usd(group.totals.spend);
    out += ",\"requests\":";
    out += std::to_string(group.totals.requests);
    out += ",\"input_tokens\":";
    out += std::to_string(group.totals.input_tokens);
    out += ",\"cached_input_tokens\":";
    out += std::to_string(group.totals.cached_input_tokens);
    out += ",\"output_tokens\":";
    out += std::to_string(group.totals.output_tokens);
    out += '}';
  }
  out += "]}";
  return out;
}

std::string budgetJson(const core::BudgetSnapshot& budget, system_clock::time_point now) {
  const core::Picodollars spent = std::max<core::Picodollars>(budget.spent, 0);
  // Leased slices are reserved for their holders: shown as reserved, not as remaining.
  const core::Picodollars reserved = budget.reservedShown();
  const core::Picodollars remaining =
      std::max<core::Picodollars>(budget.limit - core::saturatingAdd(spent, reserved), 0);
  const double ratio =
      budget.limit > 0 ? static_cast<double>(spent) / static_cast<double>(budget.limit) : 0.0;
  std::string out;
  out.reserve(384);
  out += "{\"name\":" + quoted(budget.name);
  out += ",\"scope\":" + quoted(core::scopeName(budget.scope));
  out += ",\"subject\":" + quoted(budget.subject);
  out += ",\"period\":" + quoted(core::periodName(budget.period));
  out += ",\"period_start\":" + quoted(core::formatRfc3339(budget.window.start));
  // A total period never ends: null, not its far-future sentinel.
  out += ",\"period_end\":" + (budget.period == core::Period::Total
                                   ? std::string("null")
                                   : quoted(core::formatRfc3339(budget.window.end)));
  out += ",\"limit_usd\":" + usd(budget.limit);
  out += ",\"spent_usd\":" + usd(spent);
  out += ",\"reserved_usd\":" + usd(reserved);
  out += ",\"remaining_usd\":" + usd(remaining);
  out += ",\"used_ratio\":" + decimal(ratio);
  out += ",\"projected_usd\":" + usd(projected(budget, now));
  out += ",\"mode\":" + quoted(core::budgetModeName(budget.mode));
  out += '}';
  return out;
}

std::string budgetsJson(const std::vector<core::BudgetSnapshot>& budgets,
                        const std::vector<core::BudgetRule>* rules,
                        system_clock::time_point now) {
  const std::vector<core::BudgetSnapshot> rows =
      rules ? core::listBudgets(*rules, budgets, now) : budgets;
  std::string out = "[";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (i > 0) out += ',';
    out += budgetJson(rows[i], now);
  }
  out += ']';
  return out;
}

net::awaitable<AdminResponse> handleSpend(const AdminRequest& request,
                                          core::SpendRecorder& recorder) {
  if (request.method() != http::verb::get && request.method() != http::verb::head) {
    auto response = errorResponse(http::status::method_not_allowed, "use GET or HEAD");
    response.set(http::field::allow, "GET, HEAD");
    co_return response;
  }
  std::string error;
  const auto query = parseSpendQuery(request.target(), error);
  if (!query) co_return errorResponse(http::status::bad_request, error);

  using Result = core::StoreResult<core::SpendReport>;
  const auto now = system_clock::now();
  auto result = co_await awaitCallback<Result>([&](std::function<void(Result)> done) {
    recorder.query(query->by, query->period, now, std::move(done));
  });
  if (!result.ok()) {
    co_return errorResponse(http::status::service_unavailable, "spend report: " + result.error);
  }
  co_return jsonResponse(http::status::ok, spendReportJson(*result.value));
}

net::awaitable<AdminResponse> handleBudgets(const AdminRequest& request,
                                            Enforcer& enforcer,
                                            const std::vector<core::BudgetRule>* rules) {
  if (request.method() != http::verb::get && request.method() != http::verb::head) {
    auto response = errorResponse(http::status::method_not_allowed, "use GET or HEAD");
    response.set(http::field::allow, "GET, HEAD");
    co_return response;
  }
  using Result = core::StoreResult<std::vector<core::BudgetSnapshot>>;
  const auto now = system_clock::now();
  auto result = co_await awaitCallback<Result>(
      [&](std::function<void(Result)> done) { enforcer.store().budgets(now, std::move(done)); });
  if (!result.ok()) {
    co_return errorResponse(http::status::service_unavailable, "budgets: " + result.error);
  }
  co_return jsonResponse(http::status::ok, budgetsJson(*result.value, rules, now));
}

}  // namespace spendgate::proxy
