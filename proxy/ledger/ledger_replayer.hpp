#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "core/enforcement/rules.hpp"
#include "core/pricing/money.hpp"
#include "core/store/counter_store_types.hpp"

namespace spendgate::core {
class MemoryCounterStore;
class SpendRecorder;
}  // namespace spendgate::core

namespace spendgate::proxy {

class Logger;

/**
 * Rebuilds what a restart of the in-memory store forgets from the ledger file, before the
 * proxy accepts traffic (docs/ledger.md, "Restart"): every record's cost goes back on the
 * budget counters and the global spend counter of the periods current now (core::
 * LedgerReplayPlanner decides which), and into the spend statistics behind /admin/spend.
 * MEMORY STORE ONLY: it takes a core::MemoryCounterStore; with Redis the counters outlive the
 * process and must not be counted twice.
 *
 * The file is read through a stream, one line at a time, never whole. Malformed lines are
 * skipped (one warning with their count); a missing file is an empty ledger.
 */
class LedgerReplayer {
public:
  /** A replayed record's counters after it was added (to quietly prime the alert engine). */
  using SettledHook = std::function<void(const std::vector<core::BudgetSnapshot>&,
                                         std::chrono::system_clock::time_point)>;

  struct Result {
    std::uint64_t lines = 0;      // non-blank lines read
    std::uint64_t records = 0;    // records that counted for something current
    std::uint64_t malformed = 0;  // lines skipped
    core::Picodollars cost = 0;   // the cost of `records`
    std::chrono::milliseconds took{0};
  };

  struct SeedResult {
    std::uint64_t records = 0;   // records that seeded at least one counter
    std::uint64_t counters = 0;  // counters seeded
    core::Picodollars cost = 0;  // the cost of `records`
    std::chrono::milliseconds took{0};
  };

  LedgerReplayer(core::MemoryCounterStore& store,
                 core::SpendRecorder& spend,
                 Logger& logger,
                 SettledHook on_settled = {});

  /** Replays `path` under `rules` as of `now`; logs one info line (and one warning if any). */
  Result replay(const std::string& path,
                const core::Rules& rules,
                std::chrono::system_clock::time_point now);

  /**
   * Hot reload (docs/ledger.md, "Reload"): adds to the budget counters `rules` brings that are
   * not in `existing` (the store's counters, taken just after `reloaded_at`) the cost of every
   * record of a request admitted before `reloaded_at` (core::ReloadSeedPlanner). Nothing else:
   * the spend counter, the statistics and the alerts were never reset. Flush the ledger writer
   * first. Logs one info line (and one warning for malformed lines).
   */
  SeedResult seed(const std::string& path,
                  const core::Rules& rules,
                  std::chrono::system_clock::time_point reloaded_at,
                  const std::unordered_set<std::string>& existing,
                  std::chrono::system_clock::time_point now);

private:
  /**
   * Calls `apply` with each line of `path` (a missing file has none); `what` ends the warning
   * when it cannot be read.
   */
  void readLines(const std::string& path,
                 const std::function<void(std::string_view)>& apply,
                 std::string_view what);
  void warnMalformed(const std::string& path, std::uint64_t count, std::uint64_t first) const;

  core::MemoryCounterStore& store_;
  core::SpendRecorder& spend_;
  Logger& logger_;
  SettledHook on_settled_;
};

}  // namespace spendgate::proxy
