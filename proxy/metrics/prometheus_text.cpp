#include "proxy/metrics/prometheus_text.hpp"

#include <algorithm>
#include <iterator>
#include <string_view>

#include "core/enforcement/denial.hpp"
#include "core/pricing/money.hpp"

namespace spendgate::proxy {

namespace {

// Label values escape backslash, double quote and newline.
std::string escape(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::vector<std::string_view> split(std::string_view key) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (;;) {
    const auto end = key.find('\x1f', start);
    parts.push_back(key.substr(start, end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return parts;
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

}  // namespace

std::string renderPrometheus(const MetricsShard& m, const ScrapeState& state) {
  std::string out;
  out.reserve(4096);

  header(out, "spendgate_requests_total", "counter",
         "Requests answered, by provider, model and status.");
  for (const auto& [key, value] : m.requests) {
    auto parts = split(key);
    out += "spendgate_requests_total{provider=\"" + escape(parts[0]) + "\",model=\"" +
           escape(parts[1]) + "\",status=\"" + std::string(parts[2]) + "\"} " +
           std::to_string(value) + "\n";
  }

  header(out, "spendgate_denied_total", "counter",
         "Requests refused before reaching a provider, by reason.");
  // Every reason from the start, at 0: rate() and alerts need the series before the first denial.
  auto denied = [&out](std::string_view reason, std::uint64_t value) {
    out +=
        "spendgate_denied_total{reason=\"" + escape(reason) + "\"} " + std::to_string(value) + "\n";
  };
  for (const core::DenialReason reason : core::kAllDenialReasons) {
    const std::string_view name = core::denialReasonName(reason);
    const auto found = m.denials.find(std::string(name));
    denied(name, found == m.denials.end() ? 0 : found->second);
  }
  for (const auto& [reason, value] : m.denials) {
    const bool listed = std::any_of(
        std::begin(core::kAllDenialReasons), std::end(core::kAllDenialReasons),
        [&reason](core::DenialReason known) { return core::denialReasonName(known) == reason; });
    if (!listed) denied(reason, value);
  }

  header(out, "spendgate_spend_usd_total", "counter", "Metered spend in USD.");
  for (const auto& [key, value] : m.spend_picodollars) {
    auto parts = split(key);
    out += "spendgate_spend_usd_total{provider=\"" + escape(parts[0]) + "\",model=\"" +
           escape(parts[1]) + "\"} " + core::formatUsd(value) + "\n";
  }

  header(out, "spendgate_tokens_total", "counter", "Metered tokens, by kind.");
  for (const auto& [key, value] : m.tokens) {
    auto parts = split(key);
    out += "spendgate_tokens_total{provider=\"" + escape(parts[0]) + "\",model=\"" +
           escape(parts[1]) + "\",kind=\"" + std::string(parts[2]) + "\"} " +
           std::to_string(value) + "\n";
  }

  header(out, "spendgate_budget_spent_usd", "gauge",
         "Spend in the current period of each budget counter.");
  for (const auto& budget : state.budgets) {
    out += "spendgate_budget_spent_usd{budget=\"" + escape(budget.name) + "\",subject=\"" +
           escape(budget.subject) + "\"} " + core::formatUsd(budget.spent) + "\n";
  }
  header(out, "spendgate_budget_limit_usd", "gauge", "Limit of each budget counter.");
  for (const auto& budget : state.budgets) {
    out += "spendgate_budget_limit_usd{budget=\"" + escape(budget.name) + "\",subject=\"" +
           escape(budget.subject) + "\"} " + core::formatUsd(budget.limit) + "\n";
  }

  header(out, "spendgate_emergency_stop", "gauge", "1 while the emergency stop refuses requests.");
  out +=
      std::string("spendgate_emergency_stop ") + (state.emergency_stop_blocks ? "1" : "0") + "\n";
  header(out, "spendgate_store_up", "gauge", "1 when the counter store answers.");
  out += std::string("spendgate_store_up ") + (state.store_up ? "1" : "0") + "\n";
  // Extension: a slow store (an admit past its timeout) is not "down", yet fail_open then serves
  // on local counters; this counts those requests, so a blip shows (docs/store.md).
  header(out, "spendgate_fail_open_admissions_total", "counter",
         "Requests admitted on this instance's own counters because the store did not answer "
         "(fail_open).");
  out +=
      "spendgate_fail_open_admissions_total " + std::to_string(state.fail_open_admissions) + "\n";
  // Extension: how close large answers are to server.max_buffered_bytes (docs/metering.md).
  header(out, "spendgate_buffered_bytes", "gauge",
         "Bytes held answers, metering copies and stream events hold beyond 1 MiB each.");
  out += "spendgate_buffered_bytes " + std::to_string(state.buffered_bytes) + "\n";
  header(out, "spendgate_max_buffered_bytes", "gauge",
         "The most spendgate_buffered_bytes may reach (server.max_buffered_bytes).");
  out += "spendgate_max_buffered_bytes " + std::to_string(state.max_buffered_bytes) + "\n";

  header(out, "spendgate_upstream_seconds", "histogram",
         "Time spent waiting on the provider, per request.");
  m.upstream_seconds.render(out, "spendgate_upstream_seconds", "");
  header(out, "spendgate_overhead_seconds", "histogram",
         "Time the proxy itself adds to a request.");
  m.overhead_seconds.render(out, "spendgate_overhead_seconds", "");
  return out;
}

}  // namespace spendgate::proxy
