#include "core/store/memory_counter_store.hpp"

#include <algorithm>
#include <limits>
#include <optional>
#include <tuple>

#include "core/enforcement/denial_messages.hpp"
#include "core/enforcement/gcra.hpp"
#include "core/enforcement/rate_limit_headers.hpp"

namespace spendgate::core {

namespace {

constexpr std::int64_t kRetentionMs = kReservationRecordRetention.count();
constexpr std::int64_t kMinuteMs = 60000;

/** Wait as a sortable number: "never" is longer than any wait. */
/** A wait for a bucket to drain starts once it drains again (gcra::stalledMs). */
std::optional<std::int64_t> afterStall(std::optional<std::int64_t> wait, std::int64_t stalled) {
  if (wait && *wait > 0) *wait += stalled;
  return wait;
}

std::int64_t waitRank(std::optional<std::int64_t> wait) {
  return wait ? *wait : std::numeric_limits<std::int64_t>::max();
}

}  // namespace

void MemoryCounterStore::admit(const EnforcementPlan& plan,
                               const std::string& reservation_id,
                               std::chrono::system_clock::time_point expires_at,
                               AdmitCallback callback) {
  callback(admitNow(plan, reservation_id, expires_at));
}

AdmissionResult MemoryCounterStore::admitNow(const EnforcementPlan& plan,
                                             const std::string& reservation_id,
                                             std::chrono::system_clock::time_point expires_at) {
  std::lock_guard lock(mutex_);
  return admitLocked(plan, reservation_id, unixMillis(expires_at));
}

AdmissionResult MemoryCounterStore::admitLocked(const EnforcementPlan& plan,
                                                const std::string& reservation_id,
                                                std::int64_t expires_ms) {
  // One named result, returned on every path, so it is built in the caller's place (an
  // AdmissionResult is a denial, headers, strings and an emergency stop: a move costs).
  AdmissionResult result;
  if (plan.denial) {
    result = AdmissionResult::refused(*plan.denial);
    return result;
  }
  const std::int64_t now_ms = unixMillis(plan.now);
  sweepLocked(now_ms);

  if (auto it = reservations_.find(reservation_id); it != reservations_.end() &&
                                                    it->second.state != ReservationState::Active &&
                                                    it->second.forget_ms <= now_ms) {
    reservations_.erase(it);  // forgotten: the id may be used again
  } else if (it != reservations_.end()) {
    if (it->second.state == ReservationState::Active) {
      result.status = AdmissionResult::Status::Allowed;
      return result;
    }
    result.error = "reservation id " + reservation_id + " was already settled or expired";
    return result;
  }

  if (emergencyStopBlocks(emergency_stop_, plan.now)) {
    result = AdmissionResult::refused(emergencyStopDenial(emergency_stop_, plan.now));
    result.emergency_stop = emergency_stop_;
    return result;
  }

  // Rate limits: drain to now and check, writing nothing yet (all or nothing). The same levels
  // go into the x-ratelimit-* headers.
  std::vector<RateLevels>& checks = checks_;
  checks.assign(plan.rate_limits.size(), RateLevels{});
  checked_rates_.assign(plan.rate_limits.size(), nullptr);
  std::optional<std::size_t> worst;
  RateLimitKind worst_kind = RateLimitKind::Requests;
  std::optional<std::int64_t> worst_wait;
  for (std::size_t i = 0; i < plan.rate_limits.size(); ++i) {
    const RateCharge& c = plan.rate_limits[i];
    RateLevels& check = checks[i];
    std::int64_t stalled = 0;  // the wait before the bucket drains again (a clock behind `last`)
    if (RateState* state = findRateLocked(c.key, now_ms)) {
      checked_rates_[i] = state;
      // A clock stepped back: the bucket drains from now on (a refusal writes this too, or
      // every call would be refused until the clock is back).
      state->last_ms = gcra::drainsFrom(state->last_ms, now_ms);
      stalled = gcra::stalledMs(state->last_ms, now_ms);
      const std::int64_t elapsed = now_ms - state->last_ms;
      check.requests = gcra::drain(state->requests_level, elapsed, c.requests_per_minute);
      check.tokens = gcra::drain(state->tokens_level, elapsed, c.tokens_per_minute);
      check.inflight = state->inflight;
    }
    const auto consider = [&](RateLimitKind kind, std::optional<std::int64_t> wait) {
      if (wait && *wait == 0) return;
      if (!worst || waitRank(wait) > waitRank(worst_wait)) {
        worst = i;
        worst_kind = kind;
        worst_wait = wait;
      }
    };
    if (c.requests_per_minute > 0) {
      consider(RateLimitKind::Requests,
               afterStall(gcra::waitMs(check.requests, 1, c.requests_per_minute), stalled));
    }
    if (c.tokens_per_minute > 0 && c.tokens > 0) {
      consider(RateLimitKind::Tokens,
               afterStall(gcra::waitMs(check.tokens, c.tokens, c.tokens_per_minute), stalled));
    }
    if (c.concurrent > 0 && check.inflight >= c.concurrent) {
      consider(RateLimitKind::Concurrent, kConcurrencyRetryMs);
    }
  }
  if (worst) {
    const RateLimitHeaders headers = rateLimitHeaders(plan.rate_limits, checks);
    result = AdmissionResult::refused(
        rateLimitDenial(plan.rate_limits[*worst], worst_kind, worst_wait, headers, plan.output_cap),
        headers);
    return result;
  }

  // Hard budgets: spent + reserved + worst case <= limit. Of several that refuse, the denial
  // names the one that resets last (a total budget: never), first in config order among equals:
  // its retry-after is when the request could pass (audit 17 F4).
  checked_counters_.assign(plan.budgets.size(), nullptr);
  std::optional<std::size_t> refusing;
  Picodollars refusing_spent = 0;
  Picodollars refusing_reserved = 0;
  for (std::size_t i = 0; i < plan.budgets.size(); ++i) {
    const BudgetCharge& b = plan.budgets[i];
    if (b.mode != BudgetMode::Hard) continue;
    Picodollars spent = 0;
    Picodollars reserved = 0;
    if (Counter* counter = findCounterLocked(b.counter_key, now_ms)) {
      checked_counters_[i] = counter;
      spent = counter->snapshot.spent;
      reserved = counter->snapshot.reserved;
    }
    if (saturatingAdd(saturatingAdd(spent, reserved), b.amount) > b.limit &&
        (!refusing || b.window.end > plan.budgets[*refusing].window.end)) {
      refusing = i;
      refusing_spent = spent;
      refusing_reserved = reserved;
    }
  }
  if (refusing) {
    result = AdmissionResult::refused(
        budgetDenial(plan.budgets[*refusing], refusing_spent, refusing_reserved, plan.now),
        rateLimitHeaders(plan.rate_limits, checks));
    return result;
  }

  // Everything passes: charge.
  Reservation& reservation = newReservationLocked(reservation_id);
  reservation.state = ReservationState::Active;
  reservation.expires_ms = expires_ms;
  reservation.forget_ms = 0;
  reservation.token_estimate = plan.token_estimate;
  reservation.rates.resize(plan.rate_limits.size());
  for (std::size_t i = 0; i < plan.rate_limits.size(); ++i) {
    const RateCharge& c = plan.rate_limits[i];
    RateLevels& check = checks[i];
    if (c.requests_per_minute > 0) check.requests = gcra::add(check.requests, 1);
    if (c.tokens_per_minute > 0) check.tokens = gcra::add(check.tokens, c.tokens);
    if (c.concurrent > 0) ++check.inflight;
    // The state the check read (map nodes do not move), else a new one.
    RateState& state = checked_rates_[i] != nullptr ? *checked_rates_[i] : rates_[c.key];
    state.requests_level = check.requests;
    state.tokens_level = check.tokens;
    state.inflight = check.inflight;
    state.last_ms = gcra::nextLast(state.last_ms, now_ms);
    state.requests_per_minute = c.requests_per_minute;
    state.tokens_per_minute = c.tokens_per_minute;
    state.keep_until_ms =
        std::max({state.keep_until_ms, now_ms + 2 * kMinuteMs, expires_ms + kRetentionMs});
    HeldRate& held = reservation.rates[i];
    held.key.assign(c.key);
    held.tokens = c.tokens_per_minute > 0;
    held.slot = c.concurrent > 0;
  }
  reservation.budgets.resize(plan.budgets.size());
  for (std::size_t i = 0; i < plan.budgets.size(); ++i) {
    const BudgetCharge& b = plan.budgets[i];
    Counter* counter = chargedCounterLocked(b, now_ms, checked_counters_[i]);
    const Picodollars reserve = b.mode == BudgetMode::Hard ? b.amount : 0;
    counter->snapshot.reserved = saturatingAdd(counter->snapshot.reserved, reserve);
    counter->keep_until_ms =
        std::max(counter->keep_until_ms,
                 std::max(unixMillis(b.window.end), expires_ms + kRetentionMs) + kMinuteMs);
    reservation.budgets[i].key.assign(b.counter_key);
    reservation.budgets[i].reserved = reserve;
  }
  reservation.spend_key.clear();
  reservation.spend_keep_until_ms = 0;
  if (plan.spend) {
    reservation.spend_key = plan.spend->key;
    reservation.spend_keep_until_ms = unixMillis(plan.spend->window.end) + kRetentionMs;
  }
  addExpiryLocked(expires_ms, reservation_id);

  result.status = AdmissionResult::Status::Allowed;
  result.rate_limits = rateLimitHeaders(plan.rate_limits, checks);
  return result;
}

void MemoryCounterStore::settle(const Settlement& settlement, SettleCallback callback) {
  callback(settleNow(settlement));
}

StoreResult<SettleResult> MemoryCounterStore::settleNow(const Settlement& settlement) {
  SettleResult result;
  settleNow(settlement, result);
  return StoreResult<SettleResult>::success(std::move(result));
}

void MemoryCounterStore::settleNow(const Settlement& settlement, SettleResult& result) {
  std::lock_guard lock(mutex_);
  settleLocked(settlement, result);
}

void MemoryCounterStore::settleLocked(const Settlement& settlement, SettleResult& result) {
  const std::int64_t now_ms = unixMillis(settlement.now);
  sweepLocked(now_ms);
  result.outcome = SettleOutcome::UnknownReservation;
  result.period_spend.reset();
  std::size_t budgets = 0;  // result.budgets in use; the rest is cut off before returning
  const auto it = reservations_.find(settlement.reservation_id);
  if (it == reservations_.end() ||
      (it->second.state != ReservationState::Active && it->second.forget_ms <= now_ms)) {
    result.outcome = SettleOutcome::UnknownReservation;
    result.budgets.clear();
    return;
  }
  Reservation& reservation = it->second;
  if (reservation.state == ReservationState::Settled) {
    result.outcome = SettleOutcome::AlreadySettled;
    result.budgets.clear();
    return;
  }
  if (reservation.state == ReservationState::Active && reservation.expires_ms <= now_ms) {
    expireLocked(reservation, now_ms);  // the sweep's limit may have left it behind
  }
  const bool late = reservation.state == ReservationState::Expired;
  bool expiry_erased = false;
  if (!late) {
    const auto [first, last] = expiries_.equal_range(reservation.expires_ms);
    for (auto e = first; e != last; ++e) {
      if (e->second == settlement.reservation_id) {
        spare_expiry_ = expiries_.extract(e);
        expiry_erased = true;
        break;
      }
    }
  }

  const Picodollars actual = std::max<Picodollars>(0, settlement.actual_cost);
  const std::int64_t tokens = gcra::clampUnits(settlement.actual_tokens);
  for (const HeldBudget& held : reservation.budgets) {
    Counter* counter = findCounterLocked(held.key, now_ms);
    if (!counter) continue;
    if (late) {
      // Expiry charged the worst case as spent (expireLocked): the real cost replaces it.
      counter->snapshot.spent = std::max<Picodollars>(0, counter->snapshot.spent - held.reserved);
    } else {
      counter->snapshot.reserved =
          std::max<Picodollars>(0, counter->snapshot.reserved - held.reserved);
    }
    counter->snapshot.spent = saturatingAdd(counter->snapshot.spent, actual);
    if (budgets == result.budgets.size()) {
      result.budgets.push_back(counter->snapshot);
    } else {
      result.budgets[budgets] = counter->snapshot;  // assigned in place: strings keep capacity
    }
    ++budgets;
  }
  result.budgets.resize(budgets);
  for (const HeldRate& held : reservation.rates) {
    RateState* state = findRateLocked(held.key, now_ms);
    if (!state) continue;
    advanceLocked(*state, now_ms);
    if (held.tokens) {
      state->tokens_level = gcra::add(state->tokens_level, tokens - reservation.token_estimate);
    }
    if (held.slot && !late) state->inflight = std::max<std::int64_t>(0, state->inflight - 1);
  }
  if (!reservation.spend_key.empty()) {
    SpendCounter& counter = spendCounterLocked(reservation.spend_key, now_ms);
    counter.total = saturatingAdd(counter.total, actual);
    counter.keep_until_ms = std::max(counter.keep_until_ms, reservation.spend_keep_until_ms);
    result.period_spend = counter.total;
  }
  reservation.state = ReservationState::Settled;
  reservation.forget_ms = now_ms + retention_ms_;
  result.outcome = late ? SettleOutcome::SettledAfterExpiry : SettleOutcome::Settled;
  if (retention_ms_ == 0) {
    // Forget it now, with its expiry entry, instead of leaving both for the next sweep.
    if (!expiry_erased) {
      auto [first, last] = expiries_.equal_range(reservation.expires_ms);
      for (auto entry = first; entry != last; ++entry) {
        if (entry->second == settlement.reservation_id) {
          spare_expiry_ = expiries_.extract(entry);
          break;
        }
      }
    }
    spare_reservation_ = reservations_.extract(it);
  }
}

ReconcileResult MemoryCounterStore::addSettled(const Reconciliation& reconciliation) {
  std::lock_guard lock(mutex_);
  const std::int64_t now_ms = unixMillis(reconciliation.settled_at);
  sweepLocked(now_ms);
  ReconcileResult result;
  result.outcome = ReconcileOutcome::Added;
  const Picodollars actual = std::max<Picodollars>(0, reconciliation.actual_cost);
  for (const BudgetCharge& b : reconciliation.budgets) {
    Counter* counter = chargedCounterLocked(b, now_ms);
    counter->snapshot.spent = saturatingAdd(counter->snapshot.spent, actual);
    counter->keep_until_ms = std::max(counter->keep_until_ms, unixMillis(b.window.end) + kMinuteMs);
    result.budgets.push_back(counter->snapshot);
  }
  if (reconciliation.spend) {
    const SpendCharge& charge = *reconciliation.spend;
    SpendCounter& counter = spendCounterLocked(charge.key, now_ms);
    counter.total = saturatingAdd(counter.total, actual);
    // As long as a reservation made in that period would keep it (admit, settle).
    counter.keep_until_ms =
        std::max(counter.keep_until_ms, unixMillis(charge.window.end) + kRetentionMs);
    result.period_spend = counter.total;
  }
  return result;
}

std::unordered_set<std::string> MemoryCounterStore::budgetCounterKeys(
    std::chrono::system_clock::time_point now) const {
  const std::int64_t now_ms = unixMillis(now);
  std::unordered_set<std::string> keys;
  std::lock_guard lock(mutex_);
  keys.reserve(counters_.size());
  for (const auto& [key, counter] : counters_) {
    if (counter.keep_until_ms > now_ms) keys.insert(key);
  }
  return keys;
}

void MemoryCounterStore::budgets(std::chrono::system_clock::time_point now,
                                 BudgetsCallback callback) {
  std::vector<BudgetSnapshot> list;
  {
    std::lock_guard lock(mutex_);
    const std::int64_t now_ms = unixMillis(now);
    sweepLocked(now_ms);
    for (const auto& [key, counter] : counters_) {
      const auto& w = counter.snapshot.window;
      if (counter.keep_until_ms > now_ms && w.start <= now && now < w.end) {
        list.push_back(counter.snapshot);
      }
    }
  }
  std::sort(list.begin(), list.end(), [](const BudgetSnapshot& a, const BudgetSnapshot& b) {
    return std::tie(a.name, a.subject, a.counter_key) < std::tie(b.name, b.subject, b.counter_key);
  });
  callback(StoreResult<std::vector<BudgetSnapshot>>::success(std::move(list)));
}

void MemoryCounterStore::spend(const std::string& spend_key, SpendCallback callback) {
  Picodollars total = 0;
  {
    std::lock_guard lock(mutex_);
    if (const auto it = spend_.find(spend_key); it != spend_.end()) total = it->second.total;
  }
  callback(StoreResult<Picodollars>::success(total));
}

void MemoryCounterStore::emergencyStop(EmergencyStopCallback callback) {
  EmergencyStopState state;
  {
    std::lock_guard lock(mutex_);
    state = emergency_stop_;
  }
  callback(StoreResult<EmergencyStopState>::success(std::move(state)));
}

void MemoryCounterStore::setEmergencyStop(const EmergencyStopState& state,
                                          EmergencyStopCallback callback) {
  bool changed = false;
  {
    std::lock_guard lock(mutex_);
    changed = emergency_stop_ != state;
    emergency_stop_ = state;
  }
  if (changed && emergency_stop_listener_) emergency_stop_listener_();
  callback(StoreResult<EmergencyStopState>::success(state));
}

void MemoryCounterStore::replaceEmergencyStop(const EmergencyStopState& expected,
                                              const EmergencyStopState& next,
                                              EmergencyStopCallback callback) {
  EmergencyStopState held;
  bool changed = false;
  {
    std::lock_guard lock(mutex_);
    if (emergency_stop_.active == expected.active &&
        unixMillis(emergency_stop_.since) == unixMillis(expected.since)) {
      changed = emergency_stop_ != next;
      emergency_stop_ = next;
    }
    held = emergency_stop_;
  }
  if (changed && emergency_stop_listener_) emergency_stop_listener_();
  callback(StoreResult<EmergencyStopState>::success(std::move(held)));
}

std::size_t MemoryCounterStore::entryCountForTest() const {
  std::lock_guard lock(mutex_);
  return counters_.size() + rates_.size() + spend_.size() + reservations_.size();
}

MemoryCounterStore::Reservation& MemoryCounterStore::newReservationLocked(const std::string& id) {
  if (spare_reservation_.empty()) return reservations_.try_emplace(id).first->second;
  spare_reservation_.key() = id;
  return reservations_.insert(std::move(spare_reservation_)).position->second;
}

void MemoryCounterStore::addExpiryLocked(std::int64_t expires_ms, const std::string& id) {
  if (spare_expiry_.empty()) {
    expiries_.emplace(expires_ms, id);
    return;
  }
  spare_expiry_.key() = expires_ms;
  spare_expiry_.mapped() = id;
  expiries_.insert(std::move(spare_expiry_));
}

void MemoryCounterStore::sweepLocked(std::int64_t now_ms) {
  std::size_t released = 0;
  while (!expiries_.empty() && expiries_.begin()->first <= now_ms && released < kExpirySweepLimit) {
    const auto node = expiries_.extract(expiries_.begin());
    // Skip stale entries (settled after expiry, or an id reused after being forgotten).
    if (const auto it = reservations_.find(node.mapped());
        it != reservations_.end() && it->second.expires_ms == node.key()) {
      expireLocked(it->second, now_ms);
    }
    ++released;
  }
  if (now_ms < next_prune_ms_) return;
  // Memory reclamation only: findXLocked already treats stale entries as absent.
  next_prune_ms_ = now_ms + kMinuteMs;
  std::erase_if(counters_, [&](const auto& e) { return e.second.keep_until_ms <= now_ms; });
  std::erase_if(rates_, [&](const auto& e) { return e.second.keep_until_ms <= now_ms; });
  std::erase_if(spend_, [&](const auto& e) { return e.second.keep_until_ms <= now_ms; });
  std::erase_if(reservations_, [&](const auto& e) {
    return e.second.state != ReservationState::Active && e.second.forget_ms <= now_ms;
  });
}

void MemoryCounterStore::expireLocked(Reservation& reservation, std::int64_t now_ms) {
  if (reservation.state != ReservationState::Active) return;
  for (const HeldBudget& held : reservation.budgets) {
    if (Counter* counter = findCounterLocked(held.key, now_ms)) {
      // Not settled in time: the request may have been billed, so its worst case is charged
      // as spent (a hard cap must hold), until a late settle brings the real cost.
      counter->snapshot.reserved =
          std::max<Picodollars>(0, counter->snapshot.reserved - held.reserved);
      counter->snapshot.spent = saturatingAdd(counter->snapshot.spent, held.reserved);
    }
  }
  for (const HeldRate& held : reservation.rates) {
    if (!held.slot) continue;
    if (RateState* state = findRateLocked(held.key, now_ms)) {
      state->inflight = std::max<std::int64_t>(0, state->inflight - 1);
    }
  }
  reservation.state = ReservationState::Expired;
  reservation.forget_ms = reservation.expires_ms + retention_ms_;
}

MemoryCounterStore::Counter* MemoryCounterStore::findCounterLocked(const std::string& key,
                                                                   std::int64_t now_ms) {
  const auto it = counters_.find(key);
  if (it == counters_.end()) return nullptr;
  if (it->second.keep_until_ms <= now_ms) {
    counters_.erase(it);
    return nullptr;
  }
  return &it->second;
}

MemoryCounterStore::Counter* MemoryCounterStore::chargedCounterLocked(const BudgetCharge& b,
                                                                      std::int64_t now_ms,
                                                                      Counter* found) {
  Counter* counter = found != nullptr ? found : findCounterLocked(b.counter_key, now_ms);
  if (!counter) {
    counter = &counters_[b.counter_key];
    counter->snapshot.counter_key = b.counter_key;
    counter->snapshot.name = b.name;
    counter->snapshot.scope = b.scope;
    counter->snapshot.subject = b.subject;
    counter->snapshot.period = b.period;
    counter->snapshot.window = b.window;
  }
  // limit and mode follow the current config (a reload may change them).
  counter->snapshot.limit = b.limit;
  counter->snapshot.mode = b.mode;
  return counter;
}

MemoryCounterStore::SpendCounter& MemoryCounterStore::spendCounterLocked(const std::string& key,
                                                                         std::int64_t now_ms) {
  auto it = spend_.find(key);
  if (it != spend_.end() && it->second.keep_until_ms <= now_ms) {
    spend_.erase(it);  // past its keep-until: forgotten, so it counts from zero again
    it = spend_.end();
  }
  return it != spend_.end() ? it->second : spend_[key];
}

MemoryCounterStore::RateState* MemoryCounterStore::findRateLocked(const std::string& key,
                                                                  std::int64_t now_ms) {
  const auto it = rates_.find(key);
  if (it == rates_.end()) return nullptr;
  if (it->second.keep_until_ms <= now_ms) {
    rates_.erase(it);
    return nullptr;
  }
  return &it->second;
}

void MemoryCounterStore::advanceLocked(RateState& state, std::int64_t now_ms) const {
  const std::int64_t elapsed = now_ms - state.last_ms;
  state.requests_level = gcra::drain(state.requests_level, elapsed, state.requests_per_minute);
  state.tokens_level = gcra::drain(state.tokens_level, elapsed, state.tokens_per_minute);
  state.last_ms = gcra::nextLast(state.last_ms, now_ms);
}

}  // namespace spendgate::core
