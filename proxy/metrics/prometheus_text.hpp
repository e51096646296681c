#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/enforcement/emergency_stop.hpp"
#include "core/store/counter_store_types.hpp"
#include "proxy/metrics/metrics_shard.hpp"

namespace spendgate::proxy {

/** Everything one scrape shows besides the request counters. */
struct ScrapeState {
  std::vector<core::BudgetSnapshot> budgets;
  core::EmergencyStopState emergency_stop;
  bool emergency_stop_blocks = false;
  bool store_up = true;
  /** Requests admitted on this instance's own counters because the store did not answer. */
  std::uint64_t fail_open_admissions = 0;
  /** Bytes large per-request buffers hold past their free 1 MiB, and the most they may. */
  std::uint64_t buffered_bytes = 0;
  std::uint64_t max_buffered_bytes = 0;
};

/** @return the Prometheus text exposition (format 0.0.4) of SPEC §7's metrics. */
std::string renderPrometheus(const MetricsShard& merged, const ScrapeState& state);

}  // namespace spendgate::proxy
