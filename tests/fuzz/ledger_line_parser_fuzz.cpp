// parseLedgerLine (core/ledger/ledger_line_parser.hpp): ledger lines replayed at start-up (a file
// that may be truncated, hand-edited or written by another version), and what the replay then
// does with an accepted line (LedgerReplayPlanner::charges, SpendStats::record), as
// proxy/ledger/ledger_replayer.cpp does.
// Input: one line.
// Invariants: a line it accepts is written back by toJsonLine as a line it accepts again, and
// that round trip is a fixed point (the same text once more); RFC 3339 times it reads format
// and parse back to the same millisecond.

#include <string>
#include <string_view>

#include "core/ledger/ledger_entry.hpp"
#include "core/ledger/ledger_line_parser.hpp"
#include "core/ledger/ledger_replay_planner.hpp"
#include "core/stats/spend_stats.hpp"
#include "tests/fuzz/fuzz_support.hpp"

SPENDGATE_FUZZ_TARGET(ledger_line_parser) {
  using namespace spendgate::core;
  const std::string_view line(reinterpret_cast<const char*>(data), size);

  if (const auto ts = parseRfc3339(line)) {
    const std::string text = formatRfc3339(*ts);
    const auto again = parseRfc3339(text);
    FUZZ_CHECK(again.has_value());
    FUZZ_CHECK(*again == std::chrono::floor<std::chrono::milliseconds>(*ts));
  }

  const auto entry = parseLedgerLine(line);
  if (!entry) return 0;

  // Budgets every record falls under, whatever its time: a total one and one per key per day.
  static const Rules rules = [] {
    Rules r;
    BudgetRule total;
    total.name = "forever";
    total.period = Period::Total;
    total.limit = kPicodollarsPerUsd;
    BudgetRule daily = total;
    daily.name = "per-key";
    daily.scope = Scope::Key;
    daily.period = Period::Day;
    r.budgets = {total, daily};
    r.emergency_stop.auto_stop = EmergencyStopRule::Auto{kPicodollarsPerUsd, Period::Day};
    return r;
  }();
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1795400000));
  const LedgerReplayPlanner planner(rules, now);
  const ReplayCharges charges = planner.charges(*entry);
  if (charges.spend_stats) {
    SpendStats stats;
    stats.record(settledRequestFrom(*entry), planner.statsTime(*entry));
  }

  const std::string first = toJsonLine(*entry);
  const auto reread = parseLedgerLine(first);
  FUZZ_CHECK(reread.has_value());
  FUZZ_CHECK(toJsonLine(*reread) == first);
  return 0;
}
