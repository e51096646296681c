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

/** "-" for a label with no value (a request with no provider or model), in every family. */
std::string_view labelValue(std::string_view value) { return value.empty() ? "-" : value; }

}  // namespace

MetricsShard::MetricsShard()
    : upstream_seconds(kUpstreamBuckets), overhead_seconds(kOverheadBuckets) {}

void MetricsShard::request(std::string_view provider,
                           std::string_view model,
                           int status,
                           double upstream_seconds_value,
                           double overhead_seconds_value) {
  provider = labelValue(provider);
  model = labelValue(model);
  std::lock_guard lock(mutex_);
  LastRequest& last = last_request_;
  if (last.count != nullptr && requests.size() < kMaxSeries && last.status == status &&
      last.provider == provider && last.model == model) {
    ++*last.count;
  } else {
    // A reused buffer: the key is built without allocating; only a new series copies it.
    thread_local std::string key;
    const bool keeps_model = requests.size() < kMaxSeries;
    key.assign(provider).push_back(kSep);
    key.append(keeps_model ? model : std::string_view("other")).push_back(kSep);
    char digits[8];
    const auto end = std::to_chars(digits, digits + sizeof digits, status).ptr;
    key.append(digits, end);
    auto found = requests.find(key);
    if (found != requests.end()) {
      ++found->second;
    } else {
      found = requests.emplace(key, 1).first;
    }
    last.count = nullptr;
    if (keeps_model) {
      last.provider = provider;
      last.model = model;
      last.status = status;
      last.count = &found->second;
    }
  }
  if (upstream_seconds_value > 0) upstream_seconds.observe(upstream_seconds_value);
  overhead_seconds.observe(overhead_seconds_value < 0 ? 0 : overhead_seconds_value);
}

void MetricsShard::denied(std::string_view reason) {
  std::lock_guard lock(mutex_);
  ++denials[std::string(reason)];
}

std::int64_t* MetricsShard::tokenSeries(const std::string& series_key, std::string_view kind) {
  thread_local std::string key;
  key.assign(series_key).push_back(kSep);
  key.append(kind);
  if (auto found = tokens.find(key); found != tokens.end()) return &found->second;
  return &tokens.emplace(key, 0).first->second;
}

void MetricsShard::spend(std::string_view provider,
                         std::string_view model,
                         std::int64_t picodollars,
                         const Tokens& counts) {
  provider = labelValue(provider);
  model = labelValue(model);
  static constexpr std::string_view kKinds[5] = {"input", "cached_input", "cache_write", "output",
                                                 "reasoning"};
  const std::int64_t values[5] = {counts.input, counts.cached_input, counts.cache_write,
                                  counts.output, counts.reasoning};
  std::lock_guard lock(mutex_);
  LastSpend& last = last_spend_;
  const bool keeps_model = spend_picodollars.size() < kMaxSeries;
  if (last.picodollars != nullptr && keeps_model && last.provider == provider &&
      last.model == model) {
    *last.picodollars += picodollars;
    for (std::size_t i = 0; i < 5; ++i) {
      if (values[i] == 0) continue;
      if (last.tokens[i] == nullptr) {
        std::string series_key(provider);
        series_key.push_back(kSep);
        series_key.append(model);
        last.tokens[i] = tokenSeries(series_key, kKinds[i]);
      }
      *last.tokens[i] += values[i];
    }
    return;
  }
  // A reused buffer, as in request(): only a new series copies the key.
  thread_local std::string key;
  key.assign(provider).push_back(kSep);
  key.append(keeps_model ? model : std::string_view("other"));
  auto found = spend_picodollars.find(key);
  if (found != spend_picodollars.end()) {
    found->second += picodollars;
  } else {
    found = spend_picodollars.emplace(key, picodollars).first;
  }
  last = LastSpend{};
  if (keeps_model) {
    last.provider = provider;
    last.model = model;
    last.picodollars = &found->second;
  }
  for (std::size_t i = 0; i < 5; ++i) {
    if (values[i] == 0) continue;
    std::int64_t* series = tokenSeries(key, kKinds[i]);
    *series += values[i];
    if (keeps_model) last.tokens[i] = series;
  }
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
