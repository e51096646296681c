#include "core/stats/spend_redis.hpp"

#include <algorithm>
#include <unordered_map>

namespace spendgate::core {

namespace {

using std::chrono::system_clock;

constexpr std::string_view kSpend = "spend";
constexpr std::string_view kRequests = "requests";
constexpr std::string_view kInput = "input_tokens";
constexpr std::string_view kCached = "cached_input_tokens";
constexpr std::string_view kOutput = "output_tokens";

std::string field(const std::string& value, std::string_view metric) {
  std::string out;
  out.reserve(value.size() + 1 + metric.size());
  out += value;
  out += '|';
  out += metric;
  return out;
}

void increment(std::vector<std::vector<std::string>>& out,
               const std::string& key,
               const std::string& value,
               std::string_view metric,
               std::int64_t amount) {
  if (amount == 0) return;
  out.push_back({"HINCRBY", key, field(value, metric), std::to_string(amount)});
}

// Adds `amount` to the metric named `metric` of `totals`; unknown metrics are ignored.
void addMetric(SpendTotals& totals, std::string_view metric, std::int64_t amount) {
  if (metric == kSpend) {
    totals.spend = saturatingAdd(totals.spend, amount);
  } else if (metric == kRequests) {
    totals.requests = saturatingAdd(totals.requests, amount);
  } else if (metric == kInput) {
    totals.input_tokens = saturatingAdd(totals.input_tokens, amount);
  } else if (metric == kCached) {
    totals.cached_input_tokens = saturatingAdd(totals.cached_input_tokens, amount);
  } else if (metric == kOutput) {
    totals.output_tokens = saturatingAdd(totals.output_tokens, amount);
  }
}

}  // namespace

std::chrono::seconds redisSpendRetention(Period period) {
  using std::chrono::days;
  return period == Period::Hour ? std::chrono::duration_cast<std::chrono::seconds>(days{2})
                                : std::chrono::duration_cast<std::chrono::seconds>(days{40});
}

std::string redisSpendKey(const std::string& prefix,
                          Period period,
                          system_clock::time_point start,
                          Dimension dimension) {
  std::string key = prefix;
  key += "stats:";
  key += periodName(period);
  key += ':';
  key += std::to_string(unixSeconds(start));
  key += ':';
  key += dimensionName(dimension);
  return key;
}

void SpendBatch::add(const SettledRequest& request, system_clock::time_point now) {
  for (std::size_t p = 0; p < kRedisSpendPeriods.size(); ++p) {
    CurrentWindow& current = current_[p];
    if (!current.known || now < current.window.start || now >= current.window.end) {
      current = CurrentWindow{};  // a new window: its hashes and last values are new too
      current.known = true;
      current.window = periodWindow(kRedisSpendPeriods[p], now);
    }
    for (std::size_t d = 0; d < kSpendDimensions.size(); ++d) {
      LastValue& last = current.last[d];
      const std::string& value = dimensionValue(request, kSpendDimensions[d]);
      if (last.totals == nullptr || last.value != value) {
        Values*& values = current.values[d];
        if (values == nullptr) {
          values = &hashes_[Hash{kRedisSpendPeriods[p], current.window.start, current.window.end,
                                 kSpendDimensions[d]}];
        }
        last.totals = &(*values)[value];
        last.value = value;
      }
      last.totals->add(request);
    }
  }
  ++requests_;
}

void SpendBatch::clear() {
  hashes_.clear();
  requests_ = 0;
  current_ = {};
}

std::vector<std::vector<std::string>> SpendBatch::commands(const std::string& prefix) const {
  std::vector<std::vector<std::string>> out;
  for (const auto& [hash, values] : hashes_) {
    const std::string key = redisSpendKey(prefix, hash.period, hash.start, hash.dimension);
    for (const auto& [value, totals] : values) {
      increment(out, key, value, kSpend, totals.spend);
      increment(out, key, value, kRequests, totals.requests);
      increment(out, key, value, kInput, totals.input_tokens);
      increment(out, key, value, kCached, totals.cached_input_tokens);
      increment(out, key, value, kOutput, totals.output_tokens);
    }
    const auto expire_at = hash.end + redisSpendRetention(hash.period);
    out.push_back({"EXPIREAT", key, std::to_string(unixSeconds(expire_at))});
  }
  return out;
}

std::vector<std::vector<std::string>> redisSpendRecordCommands(const SettledRequest& request,
                                                               system_clock::time_point now,
                                                               const std::string& prefix) {
  SpendBatch batch;
  batch.add(request, now);
  return batch.commands(prefix);
}

std::vector<std::vector<std::string>> redisSpendQueryCommands(Dimension dimension,
                                                              Period period,
                                                              system_clock::time_point now,
                                                              const std::string& prefix) {
  std::vector<std::vector<std::string>> out;
  if (!isSpendPeriod(period)) return out;
  const PeriodWindow window = periodWindow(period, now);
  if (period == Period::Hour || period == Period::Day) {
    out.push_back({"HGETALL", redisSpendKey(prefix, period, window.start, dimension)});
    return out;
  }
  // Week and month: every day of the window up to and including today.
  const auto today = std::chrono::floor<std::chrono::days>(now);
  for (auto day = window.start; day <= today && day < window.end; day += std::chrono::days{1}) {
    out.push_back({"HGETALL", redisSpendKey(prefix, Period::Day, day, dimension)});
  }
  return out;
}

StoreResult<SpendReport> parseRedisSpendReplies(Dimension dimension,
                                                Period period,
                                                system_clock::time_point now,
                                                const std::vector<ScriptValue>& replies) {
  using Result = StoreResult<SpendReport>;
  if (!isSpendPeriod(period)) {
    return Result::failure("no spend report for period " + std::string(periodName(period)));
  }
  const std::size_t expected = redisSpendQueryCommands(dimension, period, now, "").size();
  if (replies.size() != expected) {
    return Result::failure("expected " + std::to_string(expected) + " HGETALL replies, got " +
                           std::to_string(replies.size()));
  }
  SpendReport report;
  report.dimension = dimension;
  report.period = period;
  report.window = periodWindow(period, now);

  std::unordered_map<std::string, SpendTotals> groups;
  for (const ScriptValue& reply : replies) {
    if (reply.type == ScriptValue::Type::Nil) continue;
    if (reply.type == ScriptValue::Type::Error) return Result::failure("redis: " + reply.str);
    if (reply.type != ScriptValue::Type::Array || reply.elements.size() % 2 != 0) {
      return Result::failure("HGETALL answered something other than field/value pairs");
    }
    for (std::size_t i = 0; i < reply.elements.size(); i += 2) {
      const auto name = reply.elements[i].toText();
      const auto amount = reply.elements[i + 1].toInt();
      if (!name || !amount) return Result::failure("HGETALL field or value is not readable");
      const auto bar = name->rfind('|');
      if (bar == std::string::npos) continue;  // not one of ours
      addMetric(groups[name->substr(0, bar)], std::string_view(*name).substr(bar + 1), *amount);
    }
  }
  report.groups.reserve(groups.size());
  for (auto& [key, totals] : groups) {
    if (totals.empty()) continue;
    report.total.add(totals);
    report.groups.push_back({key, totals});
  }
  sortSpendGroups(report.groups);
  return Result::success(std::move(report));
}

}  // namespace spendgate::core
