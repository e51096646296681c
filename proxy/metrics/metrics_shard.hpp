#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "proxy/metrics/histogram.hpp"

namespace spendgate::proxy {

/**
 * One worker's share of the request metrics (SPEC §7). The worker updates only its own shard,
 * so the lock is never contended on the request path; a scrape merges all shards.
 */
class MetricsShard {
public:
  /** Label sets beyond this per family collapse into model="other" (callers choose models). */
  static constexpr std::size_t kMaxSeries = 5000;

  struct Tokens {
    std::int64_t input = 0, cached_input = 0, cache_write = 0, output = 0, reasoning = 0;
  };

  MetricsShard();

  void request(std::string_view provider,
               std::string_view model,
               int status,
               double upstream_seconds,
               double overhead_seconds);
  void denied(std::string_view reason);
  void spend(std::string_view provider,
             std::string_view model,
             std::int64_t picodollars,
             const Tokens& tokens);

  /** Adds this shard into `total` (under this shard's lock). */
  void mergeInto(MetricsShard& total) const;

  // Read by the renderer on a merged copy.
  std::map<std::string, std::uint64_t> requests;          // "provider\x1fmodel\x1fstatus"
  std::map<std::string, std::uint64_t> denials;           // reason
  std::map<std::string, std::int64_t> spend_picodollars;  // "provider\x1fmodel"
  std::map<std::string, std::int64_t> tokens;             // "provider\x1fmodel\x1fkind"
  Histogram upstream_seconds;
  Histogram overhead_seconds;

private:
  mutable std::mutex mutex_;
};

/** Bucket bounds, in seconds. */
extern const double kUpstreamBuckets[15];
extern const double kOverheadBuckets[14];

}  // namespace spendgate::proxy
