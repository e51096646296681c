#include "proxy/metrics/metrics_shard.hpp"

#include <charconv>

namespace spendgate::proxy {

// Upstream answers take milliseconds to minutes; the proxy's own share, microseconds.
const double kUpstreamBuckets[15] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                     2.5,   5,    10,    30,   60,  120,  300};
const double kOverheadBuckets[14] = {0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001,
                                     0.0025,  0.005,    0.01,    0.025,  0.05,    0.1,    0.25};

namespace {
constexpr char kSep = '\x1f';
}

MetricsShard::MetricsShard()
    : upstream_seconds(kUpstreamBuckets), overhead_seconds(kOverheadBuckets) {}

void MetricsShard::request(std::string_view provider,
                           std::string_view model,
                           int status,
                           double upstream_seconds_value,
                           double overhead_seconds_value) {
  // A reused buffer: the key is built without allocating; only a new series copies it.
  thread_local std::string key;
  std::lock_guard lock(mutex_);
  key.assign(provider).push_back(kSep);
  key.append(requests.size() < kMaxSeries ? model : std::string_view("other")).push_back(kSep);
  char digits[8];
  const auto end = std::to_chars(digits, digits + sizeof digits, status).ptr;
  key.append(digits, end);
  if (auto found = requests.find(key); found != requests.end()) {
    ++found->second;
  } else {
    requests.emplace(key, 1);
  }
  if (upstream_seconds_value > 0) upstream_seconds.observe(upstream_seconds_value);
  overhead_seconds.observe(overhead_seconds_value < 0 ? 0 : overhead_seconds_value);
}

void MetricsShard::denied(std::string_view reason) {
  std::lock_guard lock(mutex_);
  ++denials[std::string(reason)];
}

void MetricsShard::spend(std::string_view provider,
                         std::string_view model,
                         std::int64_t picodollars,
                         const Tokens& counts) {
  // A reused buffer, as in request(): only a new series copies the key.
  thread_local std::string key;
  std::lock_guard lock(mutex_);
  key.assign(provider).push_back(kSep);
  key.append(spend_picodollars.size() < kMaxSeries ? model : std::string_view("other"));
  if (auto found = spend_picodollars.find(key); found != spend_picodollars.end()) {
    found->second += picodollars;
  } else {
    spend_picodollars.emplace(key, picodollars);
  }
  const std::size_t model_key_size = key.size();
  auto add = [&](std::string_view kind, std::int64_t value) {
    if (value == 0) return;
    key.resize(model_key_size);
    key.push_back(kSep);
    key.append(kind);
    if (auto found = tokens.find(key); found != tokens.end()) {
      found->second += value;
    } else {
      tokens.emplace(key, value);
    }
  };
  add("input", counts.input);
  add("cached_input", counts.cached_input);
  add("cache_write", counts.cache_write);
  add("output", counts.output);
  add("reasoning", counts.reasoning);
}

void MetricsShard::mergeInto(MetricsShard& total) const {
  std::lock_guard lock(mutex_);
  for (const auto& [key, value] : requests) total.requests[key] += value;
  for (const auto& [key, value] : denials) total.denials[key] += value;
  for (const auto& [key, value] : spend_picodollars) total.spend_picodollars[key] += value;
  for (const auto& [key, value] : tokens) total.tokens[key] += value;
  total.upstream_seconds.merge(upstream_seconds);
  total.overhead_seconds.merge(overhead_seconds);
}

}  // namespace spendgate::proxy
