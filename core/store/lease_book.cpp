#include "core/store/lease_book.hpp"

#include <algorithm>

#include "core/enforcement/gcra.hpp"
#include "core/enforcement/rate_limit_headers.hpp"

namespace spendgate::core {

namespace {

/** Local admissions that expired unsettled are remembered this long for a late settle. */
constexpr std::chrono::milliseconds kExpiredRetention = kReservationRecordRetention;

bool sameRule(const BudgetCharge& a, const BudgetCharge& b) {
  return a.limit == b.limit && a.mode == b.mode;
}

bool sameRule(const std::optional<std::pair<Picodollars, BudgetMode>>& rule,
              const BudgetCharge& charge) {
  return rule && rule->first == charge.limit && rule->second == charge.mode;
}

bool sameRule(const RateCharge& a, const RateCharge& b) {
  return a.requests_per_minute == b.requests_per_minute &&
         a.tokens_per_minute == b.tokens_per_minute && a.concurrent == b.concurrent;
}

}  // namespace

LeaseBook::LeaseBook(LeaseBookOptions options) : options_(options) {}

bool LeaseBook::budgetReady(Budget& b, const BudgetCharge& charge, Wall wall, Steady now) {
  b.last_used = now;
  // Slices are sized by a typical request; an unpriced one's amount says nothing about that.
  if (charge.mode == BudgetMode::Hard && !charge.unpriced) b.unit = charge.amount;
  if (!sameRule(b.meta, charge)) {
    // A reload changed the rule: the exact path applies it, and the next flush is sent under it.
    b.meta = charge;
    return false;
  }
  if (!b.known || wall >= b.meta.window.end) return false;
  if (charge.mode == BudgetMode::Soft) return true;
  // A slice leased under another limit is not used, not even the part a settle below its worst
  // case frees: under a lowered limit the counter may already be past it.
  if (!sameRule(b.slice_rule, charge)) return false;
  if (!b.renewed || now - *b.renewed >= options_.sizing.ttl) return false;
  if (now < b.reclaim_until) return false;
  return b.lease - b.inflight - b.unflushed >= charge.amount;
}

bool LeaseBook::rateReady(Rate& r, const RateCharge& charge, Steady now) const {
  if (charge.requests_per_minute <= 0 && charge.tokens_per_minute <= 0) return true;
  if (!r.leased_at || now - *r.leased_at >= options_.rate_slice_life) return false;
  if (charge.requests_per_minute > 0 && r.granted_rq - r.used_rq < 1) return false;
  if (charge.tokens_per_minute > 0 && charge.tokens > 0 &&
      r.granted_tk - r.used_tk < charge.tokens) {
    return false;
  }
  return true;
}

std::optional<AdmissionResult> LeaseBook::admit(const EnforcementPlan& plan,
                                                const std::string& reservation_id,
                                                Wall expires_at,
                                                Steady now) {
  if (plan.denial) return std::nullopt;
  // Concurrency is a count of requests in flight across instances: never leased.
  for (const auto& r : plan.rate_limits) {
    if (r.concurrent > 0) return std::nullopt;
  }
  if (auto it = locals_.find(reservation_id); it != locals_.end()) {
    if (it->second.expired) return std::nullopt;  // the exact path answers "reused"
    AdmissionResult duplicate;
    duplicate.status = AdmissionResult::Status::Allowed;
    return duplicate;
  }
  // Every counter is looked at (and remembered as wanted) even after one is not ready.
  bool ready = true;
  for (const auto& charge : plan.budgets) {
    auto [it, fresh] = budgets_.try_emplace(charge.counter_key);
    if (fresh) it->second.meta = charge;
    if (!budgetReady(it->second, charge, plan.now, now)) ready = false;
  }
  for (const auto& charge : plan.rate_limits) {
    auto [it, fresh] = rates_.try_emplace(charge.key);
    Rate& r = it->second;
    r.last_used = now;
    r.unit_tokens = std::max<std::int64_t>(charge.tokens, 1);
    if (fresh || !sameRule(r.meta, charge)) {
      r.meta = charge;
      ready = false;
    } else if (!rateReady(r, charge, now)) {
      ready = false;
    }
  }
  if (plan.spend) {
    auto [it, fresh] = spends_.try_emplace(plan.spend->key);
    if (fresh) it->second.meta = *plan.spend;
    it->second.last_used = now;
    if (!it->second.known) ready = false;
  }
  if (!ready) return std::nullopt;

  Local local;
  local.expires_at = expires_at;
  for (const auto& charge : plan.budgets) {
    Budget& b = budgets_[charge.counter_key];
    const Picodollars amount = charge.mode == BudgetMode::Hard ? charge.amount : 0;
    b.inflight += amount;
    ++b.refs;
    local.budgets.emplace_back(charge.counter_key, amount);
  }
  std::vector<RateLevels> levels;
  for (const auto& charge : plan.rate_limits) {
    Rate& r = rates_[charge.key];
    if (charge.requests_per_minute > 0) ++r.used_rq;
    if (charge.tokens_per_minute > 0) r.used_tk += charge.tokens;
    ++r.refs;
    local.rates.emplace_back(charge.key, charge.tokens);
    // Approximate x-ratelimit-* data: the last level Redis answered, drained since, without the
    // part of this instance's slice it has not used yet.
    const std::int64_t elapsed =
        std::chrono::duration_cast<std::chrono::milliseconds>(now - r.level_at).count();
    RateLevels level;
    level.requests = gcra::add(gcra::drain(r.rq, elapsed, charge.requests_per_minute),
                               -(r.granted_rq - r.used_rq));
    level.tokens = gcra::add(gcra::drain(r.tk, elapsed, charge.tokens_per_minute),
                             -(r.granted_tk - r.used_tk));
    levels.push_back(level);
  }
  if (plan.spend) {
    ++spends_[plan.spend->key].refs;
    local.spend = plan.spend->key;
  }
  locals_.emplace(reservation_id, std::move(local));
  AdmissionResult result;
  result.status = AdmissionResult::Status::Allowed;
  result.rate_limits = rateLimitHeaders(plan.rate_limits, levels);
  return result;
}

std::optional<SettleResult> LeaseBook::settle(const Settlement& settlement, Steady now) {
  auto it = locals_.find(settlement.reservation_id);
  if (it == locals_.end()) return std::nullopt;
  Local local = std::move(it->second);
  locals_.erase(it);
  const Picodollars cost = std::max<Picodollars>(0, settlement.actual_cost);
  SettleResult result;
  result.outcome = local.expired ? SettleOutcome::SettledAfterExpiry : SettleOutcome::Settled;
  for (const auto& [key, amount] : local.budgets) {
    Budget& b = budgets_[key];
    // An expired one was charged its worst case (sweep): only a cost above that is added.
    if (!local.expired) b.inflight -= amount;
    b.unflushed =
        saturatingAdd(b.unflushed, local.expired ? std::max<Picodollars>(0, cost - amount) : cost);
    b.last_used = now;
    --b.refs;
    result.budgets.push_back(snapshot(b));
  }
  for (const auto& [key, tokens] : local.rates) {
    Rate& r = rates_[key];
    if (r.meta.tokens_per_minute > 0) {
      r.tk_adjust += gcra::clampUnits(settlement.actual_tokens) - tokens;
    }
    --r.refs;
  }
  if (local.spend) {
    Spend& s = spends_[*local.spend];
    s.unflushed = saturatingAdd(s.unflushed, cost);
    --s.refs;
    result.period_spend = s.total + s.sending + s.unflushed;
  }
  return result;
}

void LeaseBook::sweep(Wall wall) {
  for (auto it = locals_.begin(); it != locals_.end();) {
    Local& local = it->second;
    if (!local.expired && local.expires_at <= wall) {
      // Never settled, like a reservation in Redis that expires: it may have been billed, so
      // its worst case is charged as spent (sent with the next flush).
      for (const auto& [key, amount] : local.budgets) {
        Budget& b = budgets_[key];
        b.inflight -= amount;
        b.unflushed = saturatingAdd(b.unflushed, amount);
      }
      local.expired = true;
    }
    if (local.expired && local.expires_at + kExpiredRetention <= wall) {
      for (const auto& entry : local.budgets) --budgets_[entry.first].refs;
      for (const auto& entry : local.rates) --rates_[entry.first].refs;
      if (local.spend) --spends_[*local.spend].refs;
      it = locals_.erase(it);
      continue;
    }
    ++it;
  }
}

bool LeaseBook::reclaim(const EnforcementPlan& plan, Steady now) {
  bool any = false;
  for (const auto& charge : plan.budgets) {
    auto it = budgets_.find(charge.counter_key);
    if (it == budgets_.end() || it->second.unused() == 0) continue;
    it->second.reclaim_until = std::max(it->second.reclaim_until, now + options_.reclaim_hold);
    any = true;
  }
  return any;
}

std::optional<LeaseFlush> LeaseBook::beginFlush(Wall wall, Steady now, bool release_all) {
  if (in_flight_) return std::nullopt;
  if (pending_) {
    // The last flush failed: the same one again (same seq), since it may have been applied.
    pending_->now = wall;
    for (auto& entry : pending_->budgets) {
      // Not part of what makes the flush idempotent: what we hold now, for a lapsed slice.
      if (auto it = budgets_.find(entry.counter.counter_key); it != budgets_.end()) {
        entry.held = std::max<Picodollars>(0, it->second.inflight) + it->second.unflushed;
      }
    }
    in_flight_ = true;
    sent_at_ = now;
    return pending_;
  }
  sweep(wall);
  LeaseFlush flush;
  flush.now = wall;
  const auto idle = [&](Steady last) { return now - last >= options_.idle_after; };
  for (auto it = budgets_.begin(); it != budgets_.end();) {
    Budget& b = it->second;
    const bool quiet = idle(b.last_used) || release_all;
    const bool ended = wall >= b.meta.window.end;
    if (b.refs == 0 && b.lease == 0 && b.unflushed == 0 && b.sending == 0 && (quiet || ended)) {
      it = budgets_.erase(it);
      continue;
    }
    ++it;
    if (b.unflushed == 0 && b.lease == 0 && quiet) continue;
    const bool reclaiming = now < b.reclaim_until;
    const bool valid = b.renewed && now - *b.renewed < options_.sizing.ttl;
    const bool want = !quiet && !ended && !reclaiming && b.meta.mode == BudgetMode::Hard;
    LeaseBudgetEntry entry;
    entry.counter = b.meta;
    entry.spent_delta = b.unflushed;
    const Picodollars after = std::max<Picodollars>(0, b.lease - b.unflushed);
    // A slice not known to fit the current rule keeps only what covers the local in-flight
    // worst cases; Redis may grant a new one under the rule in the same call.
    if (quiet || ended || reclaiming || !valid || !sameRule(b.slice_rule, b.meta) ||
        b.meta.mode == BudgetMode::Soft) {
      entry.release = std::max<Picodollars>(0, after - std::max<Picodollars>(0, b.inflight));
    }
    entry.unit = want ? std::max<Picodollars>(1, b.unit) : 0;
    b.lease = after - entry.release;
    b.sending = b.unflushed;
    b.unflushed = 0;
    entry.held = std::max<Picodollars>(0, b.inflight);
    flush.budgets.push_back(std::move(entry));
  }
  for (auto it = rates_.begin(); it != rates_.end();) {
    Rate& r = it->second;
    const std::int64_t unused_rq = r.granted_rq - r.used_rq;
    const std::int64_t unused_tk = r.granted_tk - r.used_tk;
    const bool quiet = idle(r.last_used) || release_all;
    if (r.refs == 0 && unused_rq <= 0 && unused_tk <= 0 && r.tk_adjust == 0 && quiet) {
      it = rates_.erase(it);
      continue;
    }
    ++it;
    const bool limited = r.meta.requests_per_minute > 0 || r.meta.tokens_per_minute > 0;
    const bool fresh = r.leased_at && now - *r.leased_at < options_.rate_slice_life / 2;
    const bool low = (r.meta.requests_per_minute > 0 && unused_rq * 4 < r.granted_rq) ||
                     (r.meta.tokens_per_minute > 0 && unused_tk * 4 < r.granted_tk);
    const bool renew = !quiet && limited && (!fresh || low);
    const bool give_back =
        renew || quiet || (r.leased_at && now - *r.leased_at >= options_.rate_slice_life);
    const bool has_unused = r.leased_at && (unused_rq > 0 || unused_tk > 0);
    if (!renew && !(give_back && has_unused) && r.tk_adjust == 0) continue;
    LeaseRateEntry entry;
    entry.rate = r.meta;
    if (give_back && r.leased_at) {
      entry.refund_requests = std::max<std::int64_t>(0, unused_rq);
      entry.refund_tokens = std::max<std::int64_t>(0, unused_tk);
      r.granted_rq = r.used_rq = r.granted_tk = r.used_tk = 0;
      r.leased_at.reset();
    }
    entry.refund_tokens -= r.tk_adjust;
    r.tk_adjust = 0;
    if (renew) {
      entry.want_requests = r.meta.requests_per_minute > 0 ? 1 : 0;
      entry.want_tokens =
          r.meta.tokens_per_minute > 0 ? std::max<std::int64_t>(1, r.unit_tokens) : 0;
    }
    flush.rates.push_back(std::move(entry));
  }
  for (auto it = spends_.begin(); it != spends_.end();) {
    Spend& s = it->second;
    const bool quiet = idle(s.last_used) || release_all;
    if (s.refs == 0 && s.unflushed == 0 && s.sending == 0 && quiet) {
      it = spends_.erase(it);
      continue;
    }
    ++it;
    if (s.unflushed == 0 && quiet) continue;
    flush.spends.push_back({s.meta, s.unflushed});
    s.sending = s.unflushed;
    s.unflushed = 0;
  }
  if (flush.empty()) return std::nullopt;
  flush.seq = ++seq_;
  pending_ = flush;
  in_flight_ = true;
  sent_at_ = now;
  return flush;
}

void LeaseBook::endFlush(const LeaseReply& reply, Steady now) {
  in_flight_ = false;
  if (!pending_) return;
  const LeaseFlush flush = std::move(*pending_);
  pending_.reset();
  for (std::size_t i = 0; i < flush.budgets.size() && i < reply.budgets.size(); ++i) {
    auto it = budgets_.find(flush.budgets[i].counter.counter_key);
    if (it == budgets_.end()) continue;
    Budget& b = it->second;
    const LeaseBudgetState& state = reply.budgets[i];
    b.sending = 0;
    b.known = true;
    b.r_spent = state.spent;
    b.r_reserved = state.reserved;
    b.lease = state.lease;
    b.r_others = std::max<Picodollars>(0, state.leased - state.lease);
    b.renewed = sent_at_;  // the expiry Redis set counts from (about) when the flush was sent
    if (state.reclaim) b.reclaim_until = now + options_.reclaim_hold;
    const BudgetCharge& sent = flush.budgets[i].counter;
    if (!sameRule(b.slice_rule, sent)) {
      // Sent under a rule the slice was not leased under (a reload, or the first flush): the
      // slice is usable under it only if Redis' counter, every slice included, fits its limit
      // (a grant under it always does).
      const Picodollars total =
          saturatingAdd(state.spent, saturatingAdd(state.reserved, state.leased));
      b.slice_rule.reset();
      if (sent.mode == BudgetMode::Hard && total <= sent.limit) {
        b.slice_rule.emplace(sent.limit, sent.mode);
      }
    }
  }
  for (std::size_t i = 0; i < flush.rates.size() && i < reply.rates.size(); ++i) {
    auto it = rates_.find(flush.rates[i].rate.key);
    if (it == rates_.end()) continue;
    Rate& r = it->second;
    const LeaseRateState& state = reply.rates[i];
    r.rq = state.rq;
    r.tk = state.tk;
    r.level_at = now;
    if (state.granted_requests > 0 || state.granted_tokens > 0) {
      // A new slice (the old one was handed back with this flush).
      r.granted_rq = state.granted_requests;
      r.granted_tk = state.granted_tokens;
      r.used_rq = r.used_tk = 0;
      r.leased_at = sent_at_;
    }
  }
  for (std::size_t i = 0; i < flush.spends.size() && i < reply.spends.size(); ++i) {
    auto it = spends_.find(flush.spends[i].spend.key);
    if (it == spends_.end()) continue;
    it->second.sending = 0;
    it->second.total = reply.spends[i];
    it->second.known = true;
  }
}

void LeaseBook::failFlush() { in_flight_ = false; }

std::vector<std::pair<std::string, Picodollars>> LeaseBook::unsentSpend() const {
  std::vector<std::pair<std::string, Picodollars>> unsent;
  for (const auto& [key, b] : budgets_) {
    if (b.unflushed + b.sending > 0) unsent.emplace_back(key, b.unflushed + b.sending);
  }
  for (const auto& [key, s] : spends_) {
    if (s.unflushed + s.sending > 0) unsent.emplace_back(key, s.unflushed + s.sending);
  }
  std::sort(unsent.begin(), unsent.end());
  return unsent;
}

bool LeaseBook::empty() const {
  return budgets_.empty() && rates_.empty() && spends_.empty() && !pending_;
}

BudgetSnapshot LeaseBook::snapshot(const Budget& b) const {
  BudgetSnapshot s;
  s.counter_key = b.meta.counter_key;
  s.name = b.meta.name;
  s.scope = b.meta.scope;
  s.subject = b.meta.subject;
  s.period = b.meta.period;
  s.window = b.meta.window;
  s.limit = b.meta.limit;
  s.mode = b.meta.mode;
  s.spent = saturatingAdd(b.r_spent, saturatingAdd(b.unflushed, b.sending));
  s.reserved = b.r_reserved + std::max<Picodollars>(0, b.inflight);
  s.leased = b.r_others + b.unused();
  return s;
}

void LeaseBook::adjust(std::vector<BudgetSnapshot>& rows, Wall wall) const {
  std::vector<const std::string*> seen;
  for (auto& row : rows) {
    auto it = budgets_.find(row.counter_key);
    if (it == budgets_.end()) continue;
    const Budget& b = it->second;
    // Redis counts this instance's whole slice (lease + what is being sent) as leased; of it,
    // the local in-flight worst cases are reserved, the local spend spent, the rest unused.
    row.spent = saturatingAdd(row.spent, saturatingAdd(b.unflushed, b.sending));
    row.reserved += std::max<Picodollars>(0, b.inflight);
    row.leased = std::max<Picodollars>(0, row.leased - (b.lease + b.sending)) + b.unused();
    seen.push_back(&it->first);
  }
  for (const auto& [key, b] : budgets_) {
    if (!b.known || b.unflushed + b.sending + b.inflight <= 0) continue;
    if (b.meta.window.start > wall || wall >= b.meta.window.end) continue;
    if (std::find(seen.begin(), seen.end(), &key) != seen.end()) continue;
    // Not in Redis yet (a soft counter this instance created locally).
    rows.push_back(snapshot(b));
  }
}

void LeaseBook::adjustSpend(std::optional<Picodollars>& period_spend, Wall wall) const {
  if (!period_spend) return;
  for (const auto& [key, s] : spends_) {
    if (s.meta.window.start <= wall && wall < s.meta.window.end) {
      *period_spend = saturatingAdd(*period_spend, s.unflushed + s.sending);
    }
  }
}

std::optional<LeaseBook::BudgetView> LeaseBook::budget(const std::string& counter_key) const {
  auto it = budgets_.find(counter_key);
  if (it == budgets_.end()) return std::nullopt;
  return BudgetView{it->second.lease, it->second.inflight,
                    it->second.unflushed + it->second.sending};
}

}  // namespace spendgate::core
