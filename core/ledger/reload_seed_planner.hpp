#pragma once

#include <chrono>
#include <string>
#include <unordered_set>
#include <vector>

#include "core/enforcement/rules.hpp"
#include "core/ledger/ledger_entry.hpp"
#include "core/ledger/ledger_replay_planner.hpp"
#include "core/store/reconcile_script.hpp"

namespace spendgate::core {

/**
 * Decides what a hot reload seeds from the ledger into the memory store (docs/ledger.md,
 * "Reload"): a budget counter the new rules bring (a budget added or renamed) must hold the
 * period's spend, as after a restart, while the counters that already existed were charged live
 * and must not count anything twice.
 *
 * A record counts when its request was ADMITTED before `reloaded_at` (so under the old rules,
 * whose counters all existed at `reloaded_at`: `existing`, taken after it), and only for the
 * counters the new rules give it that are not in `existing`. Requests admitted later were
 * charged live by their own plan. Nothing else is seeded: no spend counter, no statistics.
 * Pure; the counters are planned like the start-up replay (LedgerReplayPlanner).
 */
class ReloadSeedPlanner {
public:
  /** Slack for the ledger's rounding: `ts` is cut to the millisecond, upstream_ms to the µs. */
  static constexpr std::chrono::milliseconds kRounding{2};

  ReloadSeedPlanner(const Rules& rules,
                    std::chrono::system_clock::time_point reloaded_at,
                    const std::unordered_set<std::string>& existing,
                    std::chrono::system_clock::time_point now);

  /**
   * @return whether a reload from `before` to `after` can bring a budget counter that did not
   * exist: false when every budget of `after` has the same name, scope, period and match as one
   * of `before` (then every record's counters are ones it was charged to), so the ledger need
   * not be read.
   */
  static bool mayBringCounters(const Rules& before, const Rules& after);

  /**
   * @return whether `entry`'s request was surely admitted before `at`: its upstream call began
   * before `at` (the upstream call ended before `ts`, and lasted `upstream_ms`).
   */
  static bool admittedBefore(const LedgerEntry& entry, std::chrono::system_clock::time_point at);

  /** The counters to add `entry`'s cost to (with addSettled); empty when none. */
  Reconciliation charges(const LedgerEntry& entry) const;

private:
  LedgerReplayPlanner planner_;
  std::chrono::system_clock::time_point reloaded_at_;
  const std::unordered_set<std::string>& existing_;
};

}  // namespace spendgate::core
