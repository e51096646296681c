#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

namespace spendgate::proxy {

/** A Prometheus histogram with fixed buckets; not thread-safe (each worker owns its own). */
class Histogram {
public:
  static constexpr std::size_t kMaxBuckets = 20;

  explicit Histogram(std::span<const double> bounds);

  void observe(double value);
  /** Adds another histogram with the same bounds (merging worker shards for a scrape). */
  void merge(const Histogram& other);

  /** Appends the `_bucket`, `_sum` and `_count` lines for `name` with extra labels. */
  void render(std::string& out, const std::string& name, const std::string& labels) const;

private:
  std::span<const double> bounds_;
  std::array<std::uint64_t, kMaxBuckets + 1> counts_{};  // last one: +Inf
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

}  // namespace spendgate::proxy
