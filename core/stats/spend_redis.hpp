#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/stats/spend_stats.hpp"
#include "core/store/script_value.hpp"

// The Redis commands of a shared spend recorder and their replies (pure: no I/O here).
//
// Layout: one hash per (period window, dimension),
//   <prefix>stats:<period>:<window start, unix seconds>:<dimension>
// with fields `<value>|spend` (picodollars), `<value>|requests`, `<value>|input_tokens`,
// `<value>|cached_input_tokens`, `<value>|output_tokens`, each increased with HINCRBY. Only hour
// and day hashes are written; week and month reports sum the day hashes of their window. Every
// hash gets EXPIREAT <window end + retention> (an absolute time: repeating it is harmless).
namespace spendgate::core {

/** Periods written to Redis; the others in kSpendPeriods are summed from days. */
inline constexpr std::array<Period, 2> kRedisSpendPeriods = {Period::Hour, Period::Day};

/** How long a hash outlives its window: hours 2 days, days 40 (a month report needs 31). */
std::chrono::seconds redisSpendRetention(Period period);

/** @return the hash key of `dimension` in the window of `period` starting at `start`. */
std::string redisSpendKey(const std::string& prefix,
                          Period period,
                          std::chrono::system_clock::time_point start,
                          Dimension dimension);

/**
 * Settled requests merged into the increments to send: batching many requests into one flush
 * makes the command count depend on the distinct values per flush, not on the request rate.
 */
class SpendBatch {
public:
  void add(const SettledRequest& request, std::chrono::system_clock::time_point now);
  bool empty() const { return hashes_.empty(); }
  /** @return requests added since construction or the last clear(). */
  std::int64_t requests() const { return requests_; }
  void clear();

  /**
   * @return HINCRBY key field n for every non-zero sum (fields as above), then EXPIREAT key t
   * for every hash touched. Send them pipelined; order does not matter.
   */
  std::vector<std::vector<std::string>> commands(const std::string& prefix = "spendgate:") const;

private:
  struct Hash {
    Period period = Period::Day;
    std::chrono::system_clock::time_point start;
    std::chrono::system_clock::time_point end;
    Dimension dimension = Dimension::Model;
    friend auto operator<=>(const Hash&, const Hash&) = default;
  };
  using Values = std::map<std::string, SpendTotals>;

  std::map<Hash, Values> hashes_;
  std::int64_t requests_ = 0;

  /**
   * Per period, the current window and, per dimension, its hash and the last value added with
   * its sums: consecutive requests mostly share the window and most values, so add() mostly
   * compares strings instead of computing calendar windows and walking two maps 14 times.
   * Pointers into node-based maps stay valid until clear() (which resets the memo) and move
   * with the maps when the batch is moved.
   */
  struct LastValue {
    std::string value;
    SpendTotals* totals = nullptr;
  };
  struct CurrentWindow {
    bool known = false;
    PeriodWindow window;
    std::array<Values*, kSpendDimensions.size()> values{};
    std::array<LastValue, kSpendDimensions.size()> last{};
  };
  std::array<CurrentWindow, kRedisSpendPeriods.size()> current_{};
};

/** @return the commands that record one request (a batch of one). */
std::vector<std::vector<std::string>> redisSpendRecordCommands(
    const SettledRequest& request,
    std::chrono::system_clock::time_point now,
    const std::string& prefix = "spendgate:");

/**
 * @return the HGETALL commands whose replies parseRedisSpendReplies() turns into the report of
 * `period` containing `now` (hour, day: one hash; week, month: the day hashes from the window's
 * start through today). Empty for a period outside kSpendPeriods.
 */
std::vector<std::vector<std::string>> redisSpendQueryCommands(
    Dimension dimension,
    Period period,
    std::chrono::system_clock::time_point now,
    const std::string& prefix = "spendgate:");

/**
 * @param replies the HGETALL replies, in the order of redisSpendQueryCommands(); a missing hash
 * (empty array or nil) counts as nothing. Unknown fields are ignored.
 * @return the report (total = sum of the groups), or why the replies make no sense.
 */
StoreResult<SpendReport> parseRedisSpendReplies(Dimension dimension,
                                                Period period,
                                                std::chrono::system_clock::time_point now,
                                                const std::vector<ScriptValue>& replies);

}  // namespace spendgate::core
