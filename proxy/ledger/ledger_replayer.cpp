#include "proxy/ledger/ledger_replayer.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string_view>

#include "core/ledger/ledger_line_parser.hpp"
#include "core/ledger/ledger_replay_planner.hpp"
#include "core/ledger/reload_seed_planner.hpp"
#include "core/stats/spend_stats.hpp"
#include "core/store/memory_counter_store.hpp"
#include "proxy/logging/logger.hpp"

namespace spendgate::proxy {

namespace {

bool blank(std::string_view line) {
  return line.find_first_not_of(" \t\r") == std::string_view::npos;
}

}  // namespace

LedgerReplayer::LedgerReplayer(core::MemoryCounterStore& store,
                               core::SpendRecorder& spend,
                               Logger& logger,
                               SettledHook on_settled)
    : store_(store), spend_(spend), logger_(logger), on_settled_(std::move(on_settled)) {}

LedgerReplayer::Result LedgerReplayer::replay(const std::string& path,
                                              const core::Rules& rules,
                                              std::chrono::system_clock::time_point now) {
  const auto started = std::chrono::steady_clock::now();
  Result result;
  const core::LedgerReplayPlanner planner(rules, now);
  std::uint64_t line_number = 0;
  std::uint64_t first_malformed = 0;  // for the warning

  const auto apply = [&](std::string_view line) {
    ++line_number;
    if (blank(line)) return;
    ++result.lines;
    const auto entry = core::parseLedgerLine(line);
    if (!entry) {
      if (++result.malformed == 1) first_malformed = line_number;
      return;
    }
    const core::ReplayCharges charges = planner.charges(*entry);
    if (charges.empty()) return;
    ++result.records;
    result.cost =
        core::saturatingAdd(result.cost, std::max<core::Picodollars>(0, entry->cost_picousd));
    if (!charges.reconciliation.budgets.empty() || charges.reconciliation.spend) {
      const core::ReconcileResult added = store_.addSettled(charges.reconciliation);
      if (on_settled_ && !added.budgets.empty()) on_settled_(added.budgets, entry->ts);
    }
    if (charges.spend_stats) {
      spend_.record(core::settledRequestFrom(*entry), planner.statsTime(*entry));
    }
  };

  readLines(path, apply, "budget counters start at 0");

  result.took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  warnMalformed(path, result.malformed, first_malformed);
  logger_.info("replayed " + std::to_string(result.records) + " ledger records (" +
               core::formatUsd(result.cost) + " USD) from " + path + " in " +
               std::to_string(result.took.count()) + " ms");
  return result;
}

LedgerReplayer::SeedResult LedgerReplayer::seed(const std::string& path,
                                                const core::Rules& rules,
                                                std::chrono::system_clock::time_point reloaded_at,
                                                const std::unordered_set<std::string>& existing,
                                                std::chrono::system_clock::time_point now) {
  const auto started = std::chrono::steady_clock::now();
  SeedResult result;
  const core::ReloadSeedPlanner planner(rules, reloaded_at, existing, now);
  std::unordered_set<std::string> seeded;
  std::uint64_t line_number = 0;
  std::uint64_t malformed = 0;
  std::uint64_t first_malformed = 0;

  const auto apply = [&](std::string_view line) {
    ++line_number;
    if (blank(line)) return;
    const auto entry = core::parseLedgerLine(line);
    if (!entry) {
      if (++malformed == 1) first_malformed = line_number;
      return;
    }
    const core::Reconciliation charges = planner.charges(*entry);
    if (charges.budgets.empty()) return;
    ++result.records;
    result.cost =
        core::saturatingAdd(result.cost, std::max<core::Picodollars>(0, entry->cost_picousd));
    for (const core::BudgetCharge& charge : charges.budgets) seeded.insert(charge.counter_key);
    store_.addSettled(charges);
  };
  readLines(path, apply, "budgets added by the reload start at 0");

  result.counters = seeded.size();
  result.took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  warnMalformed(path, malformed, first_malformed);
  logger_.info("reload: seeded " + std::to_string(result.counters) + " budget counters from " +
               std::to_string(result.records) + " ledger records (" + core::formatUsd(result.cost) +
               " USD) in " + std::to_string(result.took.count()) + " ms");
  return result;
}

void LedgerReplayer::readLines(const std::string& path,
                               const std::function<void(std::string_view)>& apply,
                               std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    // No ledger yet (first start): nothing to replay. Anything else is worth a warning, but
    // the proxy still runs (the ledger writer opened the same file, so this is rare).
    if (errno != ENOENT) {
      logger_.warn("cannot read ledger " + path + " to replay it: " + std::strerror(errno) + "; " +
                   std::string(what));
    }
    return;
  }
  // A last line without '\n' is read too (the writer cuts torn ones before this runs).
  std::string line;
  while (std::getline(in, line)) apply(line);
  if (in.bad()) logger_.warn("reading ledger " + path + " stopped: " + std::strerror(errno));
}

void LedgerReplayer::warnMalformed(const std::string& path,
                                   std::uint64_t count,
                                   std::uint64_t first) const {
  if (count == 0) return;
  logger_.warn("ledger " + path + ": skipped " + std::to_string(count) +
               " malformed line(s) (the first is line " + std::to_string(first) + ")");
}

}  // namespace spendgate::proxy
