#include "proxy/metrics/histogram.hpp"

#include <algorithm>
#include <cstdio>

namespace spendgate::proxy {

namespace {

std::string number(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.9g", value);
  return buffer;
}

}  // namespace

Histogram::Histogram(std::span<const double> bounds)
    : bounds_(bounds.subspan(0, std::min(bounds.size(), kMaxBuckets))) {}

void Histogram::observe(double value) {
  // Buckets are few and sorted: a linear scan beats a binary search at this size.
  std::size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += value;
  ++count_;
}

void Histogram::merge(const Histogram& other) {
  for (std::size_t i = 0; i <= bounds_.size(); ++i) counts_[i] += other.counts_[i];
  sum_ += other.sum_;
  count_ += other.count_;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  const std::string prefix = labels.empty() ? "" : labels + ",";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += name + "_bucket{" + prefix + "le=\"" + number(bounds_[i]) + "\"} " +
           std::to_string(cumulative) + "\n";
  }
  cumulative += counts_[bounds_.size()];
  out += name + "_bucket{" + prefix + "le=\"+Inf\"} " + std::to_string(cumulative) + "\n";
  const std::string braces = labels.empty() ? "" : "{" + labels + "}";
  out += name + "_sum" + braces + " " + number(sum_) + "\n";
  out += name + "_count" + braces + " " + std::to_string(count_) + "\n";
}

}  // namespace spendgate::proxy
