#pragma once

#include <chrono>

#include "core/enforcement/rules.hpp"
#include "core/ledger/ledger_entry.hpp"
#include "core/stats/spend_stats.hpp"
#include "core/store/reconcile_script.hpp"

namespace spendgate::core {

/** What one ledger record adds back when the memory store rebuilds its counters at start-up. */
struct ReplayCharges {
  /**
   * The budget counters and the spend counter (automatic emergency stop) the record charges in
   * the periods current at `now`, with its cost; reservation_id is the record's request_id.
   */
  Reconciliation reconciliation;
  /** The record falls in a window of /admin/spend current at `now` (kSpendPeriods). */
  bool spend_stats = false;

  /** @return whether the record counts for nothing at `now` (older than every current period). */
  bool empty() const {
    return reconciliation.budgets.empty() && !reconciliation.spend && !spend_stats;
  }
};

/**
 * Decides what each ledger record of a replay counts for (docs/ledger.md, "Restart"): the
 * budgets that apply are planned exactly as for a live request (plan(), same match, scope and
 * counter keys) from the record's provider, requested_model, key, user, team, customer and
 * agent, at the record's `ts`; of those, only counters whose period contains `now` are kept
 * (a `total` budget keeps everything). Pure: `now` is given once, for the whole replay.
 *
 * `ts` is when the request settled, while a live request charges the period it was ADMITTED
 * in: a request that straddles a period boundary is counted in the later period (at most one
 * request per boundary and caller, and on the safe side for hard budgets).
 */
class LedgerReplayPlanner {
public:
  LedgerReplayPlanner(const Rules& rules, std::chrono::system_clock::time_point now);

  ReplayCharges charges(const LedgerEntry& entry) const;

  /** The time the spend statistics are fed for `entry` (its ts, never after `now`). */
  std::chrono::system_clock::time_point statsTime(const LedgerEntry& entry) const;

private:
  const Rules& rules_;
  std::chrono::system_clock::time_point now_;
  std::chrono::system_clock::time_point stats_from_;  // earliest start of a current spend window
};

}  // namespace spendgate::core
