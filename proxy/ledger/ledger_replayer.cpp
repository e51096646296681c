#include "proxy/ledger/ledger_replayer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

#include "core/ledger/ledger_line_parser.hpp"
#include "core/ledger/ledger_replay_planner.hpp"
#include "core/stats/spend_stats.hpp"
#include "core/store/memory_counter_store.hpp"
#include "proxy/logging/logger.hpp"

namespace spendgate::proxy {

namespace {

constexpr std::size_t kBlockBytes = 1 << 20;

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

  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    // No ledger yet (first start): nothing to replay. Anything else is worth a warning, but
    // the proxy still starts (the ledger writer opened the same file, so this is rare).
    if (errno != ENOENT) {
      logger_.warn("cannot read ledger " + path + " to replay it: " + std::strerror(errno) +
                   "; budget counters start at 0");
    }
  } else {
    std::string carry;  // the start of a line that continues in the next block
    std::string block(kBlockBytes, '\0');
    while (true) {
      const ssize_t n = ::read(fd, block.data(), block.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        logger_.warn("reading ledger " + path + " stopped: " + std::strerror(errno));
        break;
      }
      if (n == 0) break;
      std::string_view data(block.data(), static_cast<std::size_t>(n));
      std::size_t newline = data.find('\n');
      if (!carry.empty() && newline != std::string_view::npos) {
        carry.append(data.substr(0, newline));
        apply(carry);
        carry.clear();
        data.remove_prefix(newline + 1);
      } else if (!carry.empty()) {
        carry.append(data);
        continue;
      }
      while ((newline = data.find('\n')) != std::string_view::npos) {
        apply(data.substr(0, newline));
        data.remove_prefix(newline + 1);
      }
      carry.assign(data);
    }
    if (!carry.empty()) apply(carry);  // a last line without '\n' (the writer cuts torn ones)
    ::close(fd);
  }

  result.took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  if (result.malformed > 0) {
    logger_.warn("ledger " + path + ": skipped " + std::to_string(result.malformed) +
                 " malformed line(s) (the first is line " + std::to_string(first_malformed) + ")");
  }
  logger_.info("replayed " + std::to_string(result.records) + " ledger records (" +
               core::formatUsd(result.cost) + " USD) from " + path + " in " +
               std::to_string(result.took.count()) + " ms");
  return result;
}

}  // namespace spendgate::proxy
