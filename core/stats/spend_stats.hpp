#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/enforcement/period.hpp"
#include "core/enforcement/scope.hpp"
#include "core/pricing/money.hpp"
#include "core/store/counter_store_types.hpp"

namespace spendgate::core {

struct LedgerEntry;
struct LedgerLine;

/** One settled (forwarded) request, as the spend reports count it. Filled from the ledger entry. */
struct SettledRequest {
  std::string provider;
  std::string model;  // the priced model (LedgerEntry::model)
  std::string key;
  std::string user;
  std::string team;
  std::string customer;
  std::string agent;
  Picodollars cost = 0;
  std::int64_t input_tokens = 0;
  std::int64_t cached_input_tokens = 0;
  std::int64_t output_tokens = 0;
};

/** @return the request as the reports count it (the ledger line's dimensions, cost, tokens). */
SettledRequest settledRequestFrom(const LedgerEntry& entry);
/** The same from the views of a ledger line (the proxy's, written from the request's state). */
SettledRequest settledRequestFrom(const LedgerLine& line);

/** @return the request's value of `dimension` ("" when it has none). */
const std::string& dimensionValue(const SettledRequest& request, Dimension dimension);

/** Sums over a set of requests. */
struct SpendTotals {
  Picodollars spend = 0;
  std::int64_t requests = 0;
  std::int64_t input_tokens = 0;
  std::int64_t cached_input_tokens = 0;
  std::int64_t output_tokens = 0;

  void add(const SettledRequest& request);
  void add(const SpendTotals& other);
  bool empty() const { return requests == 0 && spend == 0; }

  friend bool operator==(const SpendTotals&, const SpendTotals&) = default;
};

/** One value of the grouping dimension ("gpt-4o-mini", "search-team", "" = requests without). */
struct SpendGroup {
  std::string key;
  SpendTotals totals;

  friend bool operator==(const SpendGroup&, const SpendGroup&) = default;
};

/** The answer to a spend query: one calendar window, grouped by one dimension. */
struct SpendReport {
  Dimension dimension = Dimension::Model;
  Period period = Period::Day;
  PeriodWindow window;
  SpendTotals total;
  std::vector<SpendGroup> groups;  // spend desc, then requests desc, then key asc
};

/** The periods spend reports are kept for (calendar, UTC): hour, day, week (ISO), month. */
inline constexpr std::array<Period, 4> kSpendPeriods = {Period::Hour, Period::Day, Period::Week,
                                                        Period::Month};

/** @return whether `period` is one of kSpendPeriods. */
bool isSpendPeriod(Period period);

/** Every dimension, in SPEC order (the order of `Dimension`). */
inline constexpr std::array<Dimension, 7> kSpendDimensions = {
    Dimension::Provider, Dimension::Model,    Dimension::Key,  Dimension::User,
    Dimension::Team,     Dimension::Customer, Dimension::Agent};

/** Group that takes every new value once a dimension holds the maximum number of values. */
inline constexpr std::string_view kOtherGroup = "(other)";

/** Sorts groups: spend desc, then requests desc, then key asc (a stable, readable order). */
void sortSpendGroups(std::vector<SpendGroup>& groups);

/**
 * Where settled requests are counted for the spend reports. record() is on the request path:
 * it must be cheap and must not block on I/O. query() answers through the callback, exactly
 * once, possibly before it returns (in-memory) or later from another thread (Redis).
 */
class SpendRecorder {
public:
  using QueryCallback = std::function<void(StoreResult<SpendReport>)>;

  virtual ~SpendRecorder() = default;

  /** Counts one settled request at `now` (its ledger timestamp). Thread-safe. */
  virtual void record(const SettledRequest& request, std::chrono::system_clock::time_point now) = 0;

  /** Reports the window of `period` (one of kSpendPeriods) containing `now`, by `dimension`. */
  virtual void query(Dimension dimension,
                     Period period,
                     std::chrono::system_clock::time_point now,
                     QueryCallback callback) = 0;
};

/**
 * The in-process recorder (default): for each period of kSpendPeriods only the current calendar
 * window is kept; a window rolls over on its UTC boundary and the old one is dropped. Counts of
 * this process only (since it started); instances sharing a Redis store each count their own.
 *
 * record() takes one mutex for one hash lookup per dimension (7) and a few additions; no
 * allocation unless a value is new in the current windows. Per dimension at most
 * `max_values_per_dimension` distinct values are kept; later new values are counted under
 * kOtherGroup (totals stay exact). Values not seen in any current window are dropped when the
 * week or month window rolls over (one pass over the values, under the lock).
 *
 * A request recorded with a time before a period's current window (a settle that raced the
 * rollover) is not counted in that period (its window is gone); later windows are unaffected.
 */
class SpendStats final : public SpendRecorder {
public:
  static constexpr std::size_t kDefaultMaxValuesPerDimension = 50000;

  explicit SpendStats(std::size_t max_values_per_dimension = kDefaultMaxValuesPerDimension);

  void record(const SettledRequest& request, std::chrono::system_clock::time_point now) override;

  /** Answers inline, before returning. */
  void query(Dimension dimension,
             Period period,
             std::chrono::system_clock::time_point now,
             QueryCallback callback) override;

  /**
   * @return the window of `period` containing `now`: its sums when it is the current window,
   * empty otherwise (nothing recorded in it yet, or already dropped). `period` must be one of
   * kSpendPeriods (others answer an empty report).
   */
  SpendReport report(Dimension dimension,
                     Period period,
                     std::chrono::system_clock::time_point now) const;

  /** @return distinct values held across all dimensions (memory tests). */
  std::size_t valueCount() const;

private:
  static constexpr std::size_t kPeriods = kSpendPeriods.size();

  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  /** A value's sums in one period; counts only while `start` is that period's current window. */
  struct Slot {
    std::chrono::system_clock::time_point start;
    SpendTotals totals;
  };
  using Slots = std::array<Slot, kPeriods>;
  using ValueMap = std::unordered_map<std::string, Slots, StringHash, std::equal_to<>>;

  struct PeriodState {
    bool started = false;
    PeriodWindow window;
    SpendTotals total;
  };

  /** Moves period windows forward to `now`; @return whether the week or month window rolled. */
  bool advanceLocked(std::chrono::system_clock::time_point now);
  void sweepLocked();
  Slots& slotsLocked(ValueMap& values, const std::string& value);

  std::size_t max_values_;
  mutable std::mutex mutex_;
  std::array<PeriodState, kPeriods> periods_{};
  std::array<ValueMap, kSpendDimensions.size()> values_;
  /** Per dimension, the last value recorded and its slots: consecutive requests mostly share
   * provider, model and key. Valid until the next sweep (the only place entries are erased). */
  struct LastValue {
    std::string value;
    Slots* slots = nullptr;
  };
  std::array<LastValue, kSpendDimensions.size()> last_;
  /** Requests recorded since the last one that changed a dimension value or a window: all have
   * last_'s values and `counts`, so they are summed here once and added to the 4 period totals
   * and the 28 slots (7 dimensions x 4 periods) when the run ends (flushLocked), instead of 32
   * additions per request. report() adds it to what it reads. */
  struct Run {
    bool active = false;
    std::array<bool, kPeriods> counts{};
    SpendTotals totals;
  };
  Run run_;
  void flushLocked();
};

}  // namespace spendgate::core
