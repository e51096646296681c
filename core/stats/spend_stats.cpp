#include "core/stats/spend_stats.hpp"

#include <algorithm>
#include <tuple>

#include "core/ledger/ledger_entry.hpp"

namespace spendgate::core {

namespace {

using std::chrono::system_clock;

constexpr system_clock::time_point kNoWindow = system_clock::time_point::min();

std::int64_t saturatingAddCount(std::int64_t a, std::int64_t b) { return saturatingAdd(a, b); }

}  // namespace

SettledRequest settledRequestFrom(const LedgerEntry& entry) {
  return settledRequestFrom(lineOf(entry));
}

SettledRequest settledRequestFrom(const LedgerLine& line) {
  return SettledRequest{.provider = std::string(line.provider),
                        .model = std::string(line.model),
                        .key = std::string(line.key),
                        .user = std::string(line.user),
                        .team = std::string(line.team),
                        .customer = std::string(line.customer),
                        .agent = std::string(line.agent),
                        .cost = std::max<Picodollars>(line.cost_picousd, 0),
                        .input_tokens = line.input_tokens,
                        .cached_input_tokens = line.cached_input_tokens,
                        .output_tokens = line.output_tokens};
}

const std::string& dimensionValue(const SettledRequest& request, Dimension dimension) {
  switch (dimension) {
    case Dimension::Provider:
      return request.provider;
    case Dimension::Model:
      return request.model;
    case Dimension::Key:
      return request.key;
    case Dimension::User:
      return request.user;
    case Dimension::Team:
      return request.team;
    case Dimension::Customer:
      return request.customer;
    case Dimension::Agent:
      return request.agent;
  }
  return request.model;
}

void SpendTotals::add(const SettledRequest& request) {
  spend = saturatingAdd(spend, request.cost);
  requests = saturatingAddCount(requests, 1);
  input_tokens = saturatingAddCount(input_tokens, request.input_tokens);
  cached_input_tokens = saturatingAddCount(cached_input_tokens, request.cached_input_tokens);
  output_tokens = saturatingAddCount(output_tokens, request.output_tokens);
}

void SpendTotals::add(const SpendTotals& other) {
  spend = saturatingAdd(spend, other.spend);
  requests = saturatingAddCount(requests, other.requests);
  input_tokens = saturatingAddCount(input_tokens, other.input_tokens);
  cached_input_tokens = saturatingAddCount(cached_input_tokens, other.cached_input_tokens);
  output_tokens = saturatingAddCount(output_tokens, other.output_tokens);
}

bool isSpendPeriod(Period period) {
  return std::find(kSpendPeriods.begin(), kSpendPeriods.end(), period) != kSpendPeriods.end();
}

void sortSpendGroups(std::vector<SpendGroup>& groups) {
  std::sort(groups.begin(), groups.end(), [](const SpendGroup& a, const SpendGroup& b) {
    return std::tuple(b.totals.spend, b.totals.requests, std::string_view(a.key)) <
           std::tuple(a.totals.spend, a.totals.requests, std::string_view(b.key));
  });
}

SpendStats::SpendStats(std::size_t max_values_per_dimension)
    : max_values_(std::max<std::size_t>(max_values_per_dimension, 1)) {}

bool SpendStats::advanceLocked(system_clock::time_point now) {
  // A value can only fall out of every current window when the longest ones (week, month) roll.
  bool long_window_rolled = false;
  for (std::size_t i = 0; i < kPeriods; ++i) {
    PeriodState& state = periods_[i];
    if (state.started && now < state.window.end) continue;  // current (or a late record)
    const PeriodWindow window = periodWindow(kSpendPeriods[i], now);
    if (!state.started || window.start > state.window.start) {
      state.started = true;
      state.window = window;
      state.total = {};
      const Period period = kSpendPeriods[i];
      long_window_rolled |= period == Period::Week || period == Period::Month;
    }
  }
  return long_window_rolled;
}

void SpendStats::sweepLocked() {
  for (LastValue& last : last_) last.slots = nullptr;
  for (ValueMap& values : values_) {
    std::erase_if(values, [this](const auto& item) {
      for (std::size_t i = 0; i < kPeriods; ++i) {
        if (item.second[i].start == periods_[i].window.start) return false;
      }
      return true;
    });
  }
}

SpendStats::Slots& SpendStats::slotsLocked(ValueMap& values, const std::string& value) {
  if (auto it = values.find(value); it != values.end()) return it->second;
  std::string_view key = value;
  if (values.size() >= max_values_) {
    key = kOtherGroup;
    if (auto it = values.find(key); it != values.end()) return it->second;
  }
  Slots slots;
  for (Slot& slot : slots) slot.start = kNoWindow;
  return values.emplace(std::string(key), slots).first->second;
}

void SpendStats::flushLocked() {
  if (!run_.active) return;
  const Run run = run_;
  run_ = {};
  if (run.totals.requests == 0) return;
  for (std::size_t i = 0; i < kPeriods; ++i) {
    if (run.counts[i]) periods_[i].total.add(run.totals);
  }
  for (const LastValue& last : last_) {
    for (std::size_t i = 0; i < kPeriods; ++i) {
      if (run.counts[i]) last.slots->at(i).totals.add(run.totals);
    }
  }
}

void SpendStats::record(const SettledRequest& request, system_clock::time_point now) {
  std::lock_guard lock(mutex_);
  for (const PeriodState& state : periods_) {
    if (!state.started || now >= state.window.end) {
      flushLocked();  // the run belongs to the windows before this change
      break;
    }
  }
  if (advanceLocked(now)) sweepLocked();
  std::array<bool, kPeriods> counts{};
  bool any = false;
  for (std::size_t i = 0; i < kPeriods; ++i) {
    counts[i] = now >= periods_[i].window.start;  // false: its window is already gone
    any |= counts[i];
  }
  if (!any) return;
  if (run_.active && run_.counts == counts) {
    bool same = true;
    for (std::size_t d = 0; d < kSpendDimensions.size() && same; ++d) {
      same = last_[d].value == dimensionValue(request, kSpendDimensions[d]);
    }
    if (same) {
      run_.totals.add(request);
      return;
    }
  }
  flushLocked();
  for (std::size_t i = 0; i < kPeriods; ++i) {
    if (counts[i]) periods_[i].total.add(request);
  }
  for (std::size_t d = 0; d < kSpendDimensions.size(); ++d) {
    const std::string& value = dimensionValue(request, kSpendDimensions[d]);
    LastValue& last = last_[d];
    if (last.slots == nullptr || last.value != value) {
      last.slots = &slotsLocked(values_[d], value);
      last.value = value;
    }
    Slots& slots = *last.slots;
    for (std::size_t i = 0; i < kPeriods; ++i) {
      if (!counts[i]) continue;
      Slot& slot = slots[i];
      if (slot.start != periods_[i].window.start) {
        slot.start = periods_[i].window.start;
        slot.totals = {};
      }
      slot.totals.add(request);
    }
  }
  run_.active = true;  // every slot of this request is current: the next ones may join the run
  run_.counts = counts;
}

SpendReport SpendStats::report(Dimension dimension,
                               Period period,
                               system_clock::time_point now) const {
  SpendReport report;
  report.dimension = dimension;
  report.period = period;
  report.window = periodWindow(period, now);
  const auto found = std::find(kSpendPeriods.begin(), kSpendPeriods.end(), period);
  if (found == kSpendPeriods.end()) return report;
  const auto i = static_cast<std::size_t>(found - kSpendPeriods.begin());
  const auto d = static_cast<std::size_t>(dimension);

  std::lock_guard lock(mutex_);
  const PeriodState& state = periods_[i];
  if (!state.started || state.window != report.window) return report;
  report.total = state.total;
  const bool in_run = run_.active && run_.counts[i];
  if (in_run) report.total.add(run_.totals);
  report.groups.reserve(values_[d].size());
  for (const auto& [value, slots] : values_[d]) {
    const Slot& slot = slots[i];
    if (slot.start != report.window.start) continue;
    SpendTotals totals = slot.totals;
    if (in_run && &slots == last_[d].slots) totals.add(run_.totals);
    if (totals.requests > 0) report.groups.push_back({value, totals});
  }
  sortSpendGroups(report.groups);
  return report;
}

void SpendStats::query(Dimension dimension,
                       Period period,
                       system_clock::time_point now,
                       QueryCallback callback) {
  callback(StoreResult<SpendReport>::success(report(dimension, period, now)));
}

std::size_t SpendStats::valueCount() const {
  std::lock_guard lock(mutex_);
  std::size_t count = 0;
  for (const ValueMap& values : values_) count += values.size();
  return count;
}

}  // namespace spendgate::core
