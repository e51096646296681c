#include "proxy/cli/report_commands.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>

#include "proxy/cli/admin_client.hpp"
#include "proxy/cli/cli_options.hpp"

namespace spendgate::proxy {

const char* const kReportCommandsUsage =
    "  spend [--by model|provider|key|user|team|customer|agent] [--period day|week|month|hour]\n"
    "        [--admin URL] [--json]\n"
    "                      spend of the current period by one dimension, from the admin API\n"
    "  budgets [--admin URL] [--json]\n"
    "                      each budget: spent, reserved, limit, % used, resets at\n";

namespace {

using std::chrono::system_clock;

constexpr std::string_view kDimensions[] = {"model", "provider", "key",  "user",
                                            "team",  "customer", "agent"};
constexpr std::string_view kPeriods[] = {"day", "week", "month", "hour"};

struct Options {
  std::string by = "model";
  std::string period = "day";
  std::string admin_url;
  bool json = false;
  bool help = false;
};

template <std::size_t N>
bool oneOf(std::string_view value, const std::string_view (&choices)[N]) {
  return std::find(std::begin(choices), std::end(choices), value) != std::end(choices);
}

// Parses the options both commands share; `reports` allows --by and --period. Strict, as every
// command: an unknown option or a missing value is an error (CliOptions).
std::optional<Options> parseOptions(const std::vector<std::string>& args,
                                    bool reports,
                                    std::string& error) {
  const CliOptions::Option json{"--json"}, help{"--help", false, "-h"}, admin{"--admin", true},
      by{"--by", true}, period{"--period", true};
  const auto parsed = reports ? CliOptions::parse(args, {json, help, admin, by, period}, error)
                              : CliOptions::parse(args, {json, help, admin}, error);
  if (!parsed) return std::nullopt;
  Options options;
  options.json = parsed->has("--json");
  options.help = parsed->has("--help");
  if (auto v = parsed->value("--admin")) {
    if (v->empty()) {
      error = "--admin needs a URL";
      return std::nullopt;
    }
    options.admin_url = *v;
  }
  if (auto v = parsed->value("--by")) {
    if (!oneOf(*v, kDimensions)) {
      error = "--by must be one of model, provider, key, user, team, customer, agent";
      return std::nullopt;
    }
    options.by = *v;
  }
  if (auto v = parsed->value("--period")) {
    if (!oneOf(*v, kPeriods)) {
      error = "--period must be one of day, week, month, hour";
      return std::nullopt;
    }
    options.period = *v;
  }
  return options;
}

// ---- table rendering ----

enum class Align { Left, Right };

struct Table {
  std::vector<std::string> header;
  std::vector<Align> align;
  std::vector<std::vector<std::string>> rows;

  std::string render() const {
    std::vector<std::size_t> width(header.size(), 0);
    auto measure = [&](const std::vector<std::string>& row) {
      for (std::size_t c = 0; c < row.size() && c < width.size(); ++c) {
        width[c] = std::max(width[c], row[c].size());
      }
    };
    measure(header);
    for (const auto& row : rows) measure(row);
    std::string out;
    auto line = [&](const std::vector<std::string>& row) {
      std::string text;
      for (std::size_t c = 0; c < row.size() && c < width.size(); ++c) {
        if (c > 0) text += "  ";
        const std::string pad(width[c] - row[c].size(), ' ');
        text += align[c] == Align::Right ? pad + row[c] : row[c] + pad;
      }
      while (text.ends_with(' ')) text.pop_back();
      out += text + "\n";
    };
    line(header);
    for (const auto& row : rows) line(row);
    return out;
  }
};

// Rounds half up on the decimal value: amounts arrive as exact decimals (at most 12 places) that
// binary doubles store slightly below or above; the nudge makes 0.013755 show as 0.01376.
std::string fixed(double value, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value * (1 + 1e-12));
  return buffer;
}

// Decimals for money columns shown side by side: enough for the smallest amount in any of them.
int sharedUsdDecimals(std::initializer_list<const std::vector<double>*> columns) {
  double smallest = 0;
  for (const auto* values : columns) {
    for (double v : *values) {
      if (v > 0 && (smallest == 0 || v < smallest)) smallest = v;
    }
  }
  return usdDecimals(smallest);
}

// A money column: every value with the same number of decimals, enough for the smallest.
std::vector<std::string> usdColumn(const std::vector<double>& values, int decimals = -1) {
  if (decimals < 0) decimals = sharedUsdDecimals({&values});
  std::vector<std::string> out;
  out.reserve(values.size());
  for (double v : values) out.push_back(fixed(v, decimals));
  return out;
}

std::string percent(double fraction) {
  if (!std::isfinite(fraction)) return "-";
  if (fraction > 0 && fraction < 0.0005) return "<0.1%";
  return fixed(fraction * 100.0, 1) + "%";
}

// Reads a JSON number (integer or double) as double; nullopt otherwise.
std::optional<double> number(const boost::json::object& object, std::string_view name) {
  const auto* value = object.if_contains(name);
  if (!value) return std::nullopt;
  if (value->is_double()) return value->as_double();
  if (value->is_int64()) return static_cast<double>(value->as_int64());
  if (value->is_uint64()) return static_cast<double>(value->as_uint64());
  return std::nullopt;
}

std::optional<std::string> text(const boost::json::object& object, std::string_view name) {
  const auto* value = object.if_contains(name);
  if (!value || !value->is_string()) return std::nullopt;
  return std::string(value->as_string());
}

std::string integer(double value) {
  return std::to_string(static_cast<long long>(std::llround(value)));
}

// "2026-03-05T00:00:00.000Z" -> "2026-03-05T00:00:00Z" (milliseconds only when non-zero).
std::string shortTime(const std::string& rfc3339) {
  std::string out = rfc3339;
  if (auto dot = out.find(".000Z"); dot != std::string::npos) out.replace(dot, 5, "Z");
  return out;
}

// Parses "YYYY-MM-DDTHH:MM:SS[.fff]Z".
std::optional<system_clock::time_point> parseTime(std::string_view s) {
  auto field = [&](std::size_t pos, std::size_t len, int& value) {
    if (pos + len > s.size()) return false;
    auto [p, ec] = std::from_chars(s.data() + pos, s.data() + pos + len, value);
    return ec == std::errc{} && p == s.data() + pos + len;
  };
  int y, mo, d, h, mi, sec;
  if (!field(0, 4, y) || !field(5, 2, mo) || !field(8, 2, d) || !field(11, 2, h) ||
      !field(14, 2, mi) || !field(17, 2, sec)) {
    return std::nullopt;
  }
  using namespace std::chrono;
  const year_month_day date{year{y}, month{static_cast<unsigned>(mo)},
                            day{static_cast<unsigned>(d)}};
  if (!date.ok()) return std::nullopt;
  return system_clock::time_point(sys_days(date)) + hours{h} + minutes{mi} + seconds{sec};
}

}  // namespace

int usdDecimals(double smallest_nonzero) {
  if (!(smallest_nonzero > 0) || !std::isfinite(smallest_nonzero)) return 2;
  const int needed = 2 - static_cast<int>(std::floor(std::log10(smallest_nonzero)));
  // Up to picodollars, the ledger's unit: a nonzero amount never shows as 0.000000.
  return std::clamp(needed, 2, 12);
}

std::string shortDuration(std::chrono::seconds duration) {
  long long s = std::max<long long>(duration.count(), 0);
  const long long days = s / 86400;
  const long long hours = s % 86400 / 3600;
  const long long minutes = s % 3600 / 60;
  const long long seconds = s % 60;
  if (days > 0) return std::to_string(days) + "d " + std::to_string(hours) + "h";
  if (hours > 0) return std::to_string(hours) + "h " + std::to_string(minutes) + "m";
  if (minutes > 0) return std::to_string(minutes) + "m " + std::to_string(seconds) + "s";
  return std::to_string(seconds) + "s";
}

std::optional<std::string> formatSpendTable(const boost::json::value& report,
                                            std::string_view by,
                                            std::string& error) {
  if (!report.is_object()) {
    error = "the spend report is not a JSON object";
    return std::nullopt;
  }
  const auto& object = report.as_object();
  const auto period = text(object, "period");
  const auto from = text(object, "from");
  const auto to = text(object, "to");
  const auto total = number(object, "total_usd");
  const auto requests = number(object, "requests");
  const auto* groups = object.if_contains("groups");
  if (!period || !from || !to || !total || !requests || !groups || !groups->is_array()) {
    error = "the spend report lacks period, from, to, total_usd, requests or groups";
    return std::nullopt;
  }

  std::string title(by);
  std::transform(title.begin(), title.end(), title.begin(), ::toupper);
  std::string out = "Spend by " + std::string(by) + ", this " + *period + " (" + shortTime(*from) +
                    " to " + shortTime(*to) + ")\n";
  if (groups->as_array().empty()) {
    out += "No requests in this period.\n";
    return out;
  }

  Table table;
  table.header = {title, "SPEND_USD", "SHARE", "REQUESTS", "INPUT", "CACHED", "OUTPUT"};
  table.align = {Align::Left,  Align::Right, Align::Right, Align::Right,
                 Align::Right, Align::Right, Align::Right};
  std::vector<double> spend;
  double input_sum = 0, cached_sum = 0, output_sum = 0;
  for (const auto& item : groups->as_array()) {
    if (!item.is_object()) {
      error = "a spend group is not a JSON object";
      return std::nullopt;
    }
    const auto& g = item.as_object();
    const auto key = text(g, "key");
    const auto usd = number(g, "spend_usd");
    const auto n = number(g, "requests");
    const double input = number(g, "input_tokens").value_or(0);
    const double cached = number(g, "cached_input_tokens").value_or(0);
    const double output = number(g, "output_tokens").value_or(0);
    if (!key || !usd || !n) {
      error = "a spend group lacks key, spend_usd or requests";
      return std::nullopt;
    }
    input_sum += input;
    cached_sum += cached;
    output_sum += output;
    spend.push_back(*usd);
    table.rows.push_back({key->empty() ? "(none)" : *key, "",
                          *total > 0 ? percent(*usd / *total) : "-", integer(*n), integer(input),
                          integer(cached), integer(output)});
  }
  spend.push_back(*total);
  table.rows.push_back({"TOTAL", "", *total > 0 ? percent(1.0) : "-", integer(*requests),
                        integer(input_sum), integer(cached_sum), integer(output_sum)});
  const auto column = usdColumn(spend);
  for (std::size_t i = 0; i < table.rows.size(); ++i) table.rows[i][1] = column[i];
  out += table.render();
  return out;
}

std::optional<std::string> formatBudgetsTable(const boost::json::value& budgets,
                                              system_clock::time_point now,
                                              std::string& error) {
  if (!budgets.is_array()) {
    error = "the budget list is not a JSON array";
    return std::nullopt;
  }
  if (budgets.as_array().empty()) {
    // Budgets with a configured subject are always listed: none configured, or only open ones.
    return std::string(
        "No budgets to show (none in the config's budgets:, or only per-subject ones not "
        "charged yet this period).\n");
  }
  Table table;
  table.header = {"NAME",      "SCOPE", "SUBJECT",       "PERIOD", "SPENT_USD", "RESERVED_USD",
                  "LIMIT_USD", "USED",  "PROJECTED_USD", "MODE",   "RESETS_AT"};
  table.align = {Align::Left,  Align::Left,  Align::Left,  Align::Left, Align::Right, Align::Right,
                 Align::Right, Align::Right, Align::Right, Align::Left, Align::Left};
  std::vector<double> spent, reserved, limit, projected;
  for (const auto& item : budgets.as_array()) {
    if (!item.is_object()) {
      error = "a budget is not a JSON object";
      return std::nullopt;
    }
    const auto& b = item.as_object();
    const auto name = text(b, "name");
    const auto scope = text(b, "scope");
    const auto subject = text(b, "subject");
    const auto period = text(b, "period");
    const auto end = text(b, "period_end");
    const auto s = number(b, "spent_usd");
    const auto r = number(b, "reserved_usd");
    const auto l = number(b, "limit_usd");
    const auto ratio = number(b, "used_ratio");
    const auto p = number(b, "projected_usd");
    const auto mode = text(b, "mode");
    if (!name || !scope || !period || !s || !r || !l || !ratio || !mode) {
      error =
          "a budget lacks name, scope, period, spent_usd, reserved_usd, limit_usd, "
          "used_ratio or mode";
      return std::nullopt;
    }
    std::string resets = "never";
    if (*period != "total" && end) {
      resets = shortTime(*end);
      if (auto at = parseTime(*end); at && *at > now) {
        resets += " (in " +
                  shortDuration(std::chrono::duration_cast<std::chrono::seconds>(*at - now)) + ")";
      }
    }
    // Global budgets have one counter for all; "-" (or "") collects requests without the
    // scope's attribute.
    std::string who = subject.value_or("");
    if (*scope == "global") {
      who = "(all)";
    } else if (who.empty() || who == "-") {
      who = "(none)";
    }
    spent.push_back(*s);
    reserved.push_back(*r);
    limit.push_back(*l);
    projected.push_back(p.value_or(*s));
    table.rows.push_back(
        {*name, *scope, who, *period, "", "", "", percent(*ratio), "", *mode, resets});
  }
  // One format for every money column: 0.00 next to 0.000240 would read as less precise.
  const int decimals = sharedUsdDecimals({&spent, &reserved, &limit, &projected});
  const auto spent_column = usdColumn(spent, decimals);
  const auto reserved_column = usdColumn(reserved, decimals);
  const auto limit_column = usdColumn(limit, decimals);
  const auto projected_column = usdColumn(projected, decimals);
  for (std::size_t i = 0; i < table.rows.size(); ++i) {
    table.rows[i][4] = spent_column[i];
    table.rows[i][5] = reserved_column[i];
    table.rows[i][6] = limit_column[i];
    table.rows[i][8] = projected_column[i];
  }
  return table.render();
}

namespace {

// The flow both reports share: options, one GET, then raw JSON or a table.
template <class Format>
int runReport(const char* name,
              bool allow_by,
              const std::vector<std::string>& args,
              const std::string& admin_url,
              std::ostream& out,
              std::ostream& err,
              std::string (*path_of)(const Options&),
              Format format) {
  std::string error;
  auto options = parseOptions(args, allow_by, error);
  if (!options) {
    err << "spendgate " << name << ": " << error << "\n" << kReportCommandsUsage;
    return 1;
  }
  if (options->help) {
    out << "usage: spendgate <command> [options]\n" << kReportCommandsUsage;
    return 0;
  }
  AdminClient client(options->admin_url.empty() ? admin_url : options->admin_url,
                     AdminClient::tokenFromEnvironment());
  boost::json::value body;
  std::string raw;
  const int code = client.callJson("GET", path_of(*options), {}, body, raw, err);
  if (code >= 0) return code;
  if (options->json) {
    out << raw << "\n";
    return 0;
  }
  auto table = format(body, *options, error);
  if (!table) {
    err << "spendgate: unexpected admin API answer (" << error << "): " << raw << "\n";
    return 2;
  }
  out << *table;
  return 0;
}

}  // namespace

int runSpendCommand(const std::vector<std::string>& args,
                    const std::string& admin_url,
                    std::ostream& out,
                    std::ostream& err) {
  return runReport(
      "spend", true, args, admin_url, out, err,
      [](const Options& o) { return "/admin/spend?by=" + o.by + "&period=" + o.period; },
      [](const boost::json::value& body, const Options& o, std::string& error) {
        return formatSpendTable(body, o.by, error);
      });
}

int runBudgetsCommand(const std::vector<std::string>& args,
                      const std::string& admin_url,
                      std::ostream& out,
                      std::ostream& err) {
  return runReport(
      "budgets", false, args, admin_url, out, err,
      [](const Options&) { return std::string("/admin/budgets"); },
      [](const boost::json::value& body, const Options&, std::string& error) {
        return formatBudgetsTable(body, system_clock::now(), error);
      });
}

}  // namespace spendgate::proxy
