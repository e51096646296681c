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

  /** An empty provider or model is counted under "-". */
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
  /** The series the last call of request() / spend() counted in, for a call with the same
   * labels (most are). Map nodes never move and series are never erased, so the pointers stay
   * valid; only calls that kept the model label (fewer than kMaxSeries series) are remembered. */
  struct LastRequest {
    std::string provider, model;
    int status = 0;
    std::uint64_t* count = nullptr;
  };
  struct LastSpend {
    std::string provider, model;
    std::int64_t* picodollars = nullptr;
    std::int64_t* tokens[5] = {};  // Tokens' fields in order; nullptr until that kind is seen
  };

  std::int64_t* tokenSeries(const std::string& series_key, std::string_view kind);

  mutable std::mutex mutex_;
  LastRequest last_request_;
  LastSpend last_spend_;
};

/** Bucket bounds, in seconds. */
extern const double kUpstreamBuckets[15];
extern const double kOverheadBuckets[14];

}  // namespace spendgate::proxy
