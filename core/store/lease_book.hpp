#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/enforcement/enforcement_plan.hpp"
#include "core/store/counter_store_types.hpp"
#include "core/store/lease_script.hpp"

namespace spendgate::core {

struct LeaseBookOptions {
  LeaseSizing sizing;
  /** A rate-limit slice is used at most this long after it was leased (bounds the rate error). */
  std::chrono::milliseconds rate_slice_life{250};
  /** A counter unused this long gives its slice back at the next flush. */
  std::chrono::milliseconds idle_after{1000};
  /** After seeing a reclaim mark, the slice is given back and not leased again this long. */
  std::chrono::milliseconds reclaim_hold{2000};
};

/**
 * One instance's leased slices and what it counted locally against them (docs/store.md "Leased
 * slices"): pure bookkeeping, no I/O, time passed in. Not thread-safe (LeasingCounterStore
 * holds a lock around it).
 *
 * admit() admits a plan locally when EVERY rule in it can be satisfied from a slice (hard
 * budgets: the slice minus local in-flight worst cases and unflushed spend covers the worst
 * case; rate limits: a slice younger than rate_slice_life with units left; soft budgets and the
 * spend counter: their Redis state is known); otherwise it answers nullopt, remembers that the
 * plan's counters are wanted, and the caller takes the exact path. beginFlush() builds what the
 * next lease.lua call sends (and applies its decreases locally at once, so local admissions
 * never use what is being handed back); endFlush() takes Redis' answer, failFlush() keeps the
 * flush to be sent again unchanged (same seq: idempotent).
 */
class LeaseBook {
public:
  using Steady = std::chrono::steady_clock::time_point;
  using Wall = std::chrono::system_clock::time_point;

  explicit LeaseBook(LeaseBookOptions options = {});

  std::optional<AdmissionResult> admit(const EnforcementPlan& plan,
                                       const std::string& reservation_id,
                                       Wall expires_at,
                                       Steady now);

  /** @return nullopt when `settlement` is not for a local admission. */
  std::optional<SettleResult> settle(const Settlement& settlement, Steady now);

  /**
   * An exact admission of `plan` was refused only because of leased slices (admit.lua's reclaim
   * mark): the unused part of this instance's own slices of the plan's hard budgets goes back
   * with the next flush, and they are not leased again for reclaim_hold, as when a flush reply
   * carries the mark. @return whether any such slice had an unused part (a flush now helps).
   */
  bool reclaim(const EnforcementPlan& plan, Steady now);

  /**
   * @param release_all hand every slice back (shutdown)
   * @return nullopt when a flush is in flight or there is nothing to send
   */
  std::optional<LeaseFlush> beginFlush(Wall wall, Steady now, bool release_all = false);
  void endFlush(const LeaseReply& reply, Steady now);
  void failFlush();

  /** @return whether a flush was begun and not yet ended or failed. */
  bool flushing() const { return in_flight_; }
  /** @return whether a failed flush waits: the next beginFlush() sends it again, nothing new. */
  bool resending() const { return pending_.has_value() && !in_flight_; }

  /**
   * Spend settled here that Redis has not confirmed (not sent, being sent, or in a failed flush),
   * per budget counter and spend counter key, the non-zero ones: what the shared counters miss
   * if this instance stops now.
   */
  std::vector<std::pair<std::string, Picodollars>> unsentSpend() const;

  /** @return whether the book holds nothing (no counters, nothing to send). */
  bool empty() const;

  /** Adds this instance's unflushed spend and local in-flight worst cases to Redis' rows. */
  void adjust(std::vector<BudgetSnapshot>& rows, Wall wall) const;
  /** Adds this instance's unflushed global spend to a total read from Redis. */
  void adjustSpend(std::optional<Picodollars>& period_spend, Wall wall) const;

  /** For tests: this instance's slice of a budget counter, its local in-flight and unflushed. */
  struct BudgetView {
    Picodollars lease = 0;
    Picodollars inflight = 0;
    Picodollars unflushed = 0;  // not yet sent, plus what is being sent
  };
  std::optional<BudgetView> budget(const std::string& counter_key) const;
  std::size_t localAdmissions() const { return locals_.size(); }

private:
  struct Budget {
    BudgetCharge meta;
    Picodollars lease = 0;
    Picodollars inflight = 0;
    Picodollars unflushed = 0;
    Picodollars sending = 0;
    bool known = false;
    Picodollars r_spent = 0;
    Picodollars r_reserved = 0;
    Picodollars r_others = 0;  // other instances' slices, at the last reply
    std::optional<Steady> renewed;
    Steady last_used{};
    Picodollars unit = 0;
    Steady reclaim_until{};
    /**
     * The rule (limit, mode) under which Redis last answered that the counter, this slice
     * included, was within the limit; local admissions need the request's rule to be this one.
     * A reload that changes it leaves the slice unusable until a flush under the new rule is
     * answered so (docs/store.md "Leased slices").
     */
    std::optional<std::pair<Picodollars, BudgetMode>> slice_rule;
    int refs = 0;

    /** What is left of the slice for new local admissions. */
    Picodollars unused() const { return std::max<Picodollars>(0, lease - inflight - unflushed); }
  };
  struct Rate {
    RateCharge meta;
    std::int64_t granted_rq = 0, used_rq = 0, granted_tk = 0, used_tk = 0, tk_adjust = 0;
    std::optional<Steady> leased_at;
    std::int64_t rq = 0, tk = 0;
    Steady level_at{};
    Steady last_used{};
    std::int64_t unit_tokens = 0;
    int refs = 0;
  };
  struct Spend {
    SpendCharge meta;
    Picodollars total = 0, unflushed = 0, sending = 0;
    bool known = false;
    Steady last_used{};
    int refs = 0;
  };
  struct Local {
    std::vector<std::pair<std::string, Picodollars>> budgets;  // key, reserved worst case
    std::vector<std::pair<std::string, std::int64_t>> rates;   // key, token estimate
    std::optional<std::string> spend;
    Wall expires_at;
    bool expired = false;
  };

  bool budgetReady(Budget& b, const BudgetCharge& charge, Wall wall, Steady now);
  bool rateReady(Rate& r, const RateCharge& charge, Steady now) const;
  BudgetSnapshot snapshot(const Budget& b) const;
  void sweep(Wall wall);

  LeaseBookOptions options_;
  std::unordered_map<std::string, Budget> budgets_;
  std::unordered_map<std::string, Rate> rates_;
  std::unordered_map<std::string, Spend> spends_;
  std::unordered_map<std::string, Local> locals_;
  std::optional<LeaseFlush> pending_;  // sent (or failed), not yet answered
  bool in_flight_ = false;
  Steady sent_at_{};
  std::uint64_t seq_ = 0;
};

}  // namespace spendgate::core
