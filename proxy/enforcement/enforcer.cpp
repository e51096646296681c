#include "proxy/enforcement/enforcer.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <utility>

#include "core/enforcement/emergency_stop.hpp"
#include "core/enforcement/planner.hpp"
#include "core/pricing/money.hpp"
#include "core/store/memory_counter_store.hpp"
#include "proxy/await_callback.hpp"
#include "proxy/logging/logger.hpp"
#include "proxy/server/runtime.hpp"
#include "proxy/store/reconciling_store.hpp"

namespace spendgate::proxy {

namespace {

/** An asynchronous store's admission (the memory store's, answered at once, skips this). */
Awaitable<core::AdmissionResult> admitOn(core::CounterStore& store,
                                         const core::EnforcementPlan& plan,
                                         const std::string& id,
                                         std::chrono::system_clock::time_point expires_at) {
  co_return co_await awaitCallback<core::AdmissionResult, Executor>(
      [&](std::function<void(core::AdmissionResult)> done) {
        store.admit(plan, id, expires_at, std::move(done));
      });
}

/** Stands in while no store is set: every call fails, so the on_unavailable policy applies. */
class NoStore final : public core::CounterStore {
public:
  static constexpr const char* kError = "no counter store configured";

  void admit(const core::EnforcementPlan&,
             const std::string&,
             std::chrono::system_clock::time_point,
             AdmitCallback callback) override {
    core::AdmissionResult result;
    result.status = core::AdmissionResult::Status::StoreError;
    result.error = kError;
    callback(std::move(result));
  }
  void settle(const core::Settlement&, SettleCallback callback) override {
    callback(core::StoreResult<core::SettleResult>::failure(kError));
  }
  void budgets(std::chrono::system_clock::time_point, BudgetsCallback callback) override {
    callback(core::StoreResult<std::vector<core::BudgetSnapshot>>::failure(kError));
  }
  void spend(const std::string&, SpendCallback callback) override {
    callback(core::StoreResult<core::Picodollars>::failure(kError));
  }
  void emergencyStop(EmergencyStopCallback callback) override {
    callback(core::StoreResult<core::EmergencyStopState>::failure(kError));
  }
  void setEmergencyStop(const core::EmergencyStopState&, EmergencyStopCallback callback) override {
    callback(core::StoreResult<core::EmergencyStopState>::failure(kError));
  }
  void replaceEmergencyStop(const core::EmergencyStopState&,
                            const core::EmergencyStopState&,
                            EmergencyStopCallback callback) override {
    callback(core::StoreResult<core::EmergencyStopState>::failure(kError));
  }
  bool up() const override { return false; }
};

ReconcilingStore* reconcilingOf(const core::CounterStorePtr& store) {
  return dynamic_cast<ReconcilingStore*>(store.get());
}

/** The real cost a replay brings to the shared store. */
core::Picodollars costOf(const core::Reconciliation& reconciliation,
                         const core::Settlement& settlement,
                         bool settle) {
  return settle ? settlement.actual_cost : reconciliation.actual_cost;
}

/** Counts as the store being unreachable (retry later) rather than refusing the replay. */
bool unavailableError(const core::CounterStorePtr& store, const std::string& error) {
  if (auto* reconciling = reconcilingOf(store)) return reconciling->unavailable(error);
  return !store->up();
}

}  // namespace

/** One batch of replays in flight; callbacks may come from any thread. */
struct Enforcer::Round {
  core::CounterStorePtr store;
  ReconcilingStore* reconciling = nullptr;
  std::vector<Replay> items;
  std::mutex mutex;
  std::size_t remaining = 0;
  bool unavailable = false;
  std::vector<Replay> retry;
};

Enforcer::Enforcer(core::CounterStorePtr store,
                   config::RedisConfig::OnUnavailable on_unavailable,
                   Logger& logger)
    : Enforcer(std::move(store), on_unavailable, logger, Options{}) {}

Enforcer::Enforcer(core::CounterStorePtr store,
                   config::RedisConfig::OnUnavailable on_unavailable,
                   Logger& logger,
                   Options options)
    : local_(std::make_shared<core::MemoryCounterStore>(std::chrono::milliseconds(0))),
      on_unavailable_(on_unavailable),
      logger_(logger),
      options_(options),
      self_(std::make_shared<Enforcer*>(this)) {
  options_.replay_batch = std::max<std::size_t>(1, options_.replay_batch);
  if (!store) store = std::make_shared<NoStore>();
  store_.store(store);
  attachListener(store);
}

Enforcer::~Enforcer() {
  detachListener(store_.load());
  self_.reset();
}

std::shared_ptr<core::CounterStore> Enforcer::currentStore() const { return store_.load(); }

void Enforcer::setStore(core::CounterStorePtr store) {
  if (!store) store = std::make_shared<NoStore>();
  attachListener(store);
  auto old = store_.exchange(store);
  if (old != store) detachListener(old);
  // Whatever waits may go to the new store at once.
  if (backlog_.load(std::memory_order_acquire) > 0) kickReplay(true);
}

void Enforcer::attachListener(const core::CounterStorePtr& store) {
  auto* reconciling = reconcilingOf(store);
  if (!reconciling) return;
  reconciling->setAvailabilityListener([alive = std::weak_ptr<Enforcer*>(self_)] {
    if (auto self = alive.lock()) (*self)->kickReplay(true);
  });
}

void Enforcer::detachListener(const core::CounterStorePtr& store) {
  if (auto* reconciling = reconcilingOf(store)) reconciling->setAvailabilityListener(nullptr);
}

core::EmergencyStopState Enforcer::emergencyStop() const {
  std::lock_guard lock(mutex_);
  return emergency_stop_;
}

void Enforcer::restoreEmergencyStop(const core::EmergencyStopState& state) {
  std::lock_guard lock(mutex_);
  emergency_stop_ = state;
  emergency_stop_active_.store(state.active, std::memory_order_release);
}

void Enforcer::remember(const core::EmergencyStopState& state) {
  core::EmergencyStopState before;
  {
    std::lock_guard lock(mutex_);
    before = emergency_stop_;
    emergency_stop_ = state;
    emergency_stop_active_.store(state.active, std::memory_order_release);
  }
  const bool changed = before.active != state.active || before.since != state.since;
  if (changed && observer_.stop_changed) {
    observer_.stop_changed(before, state, std::chrono::system_clock::now());
  }
}

Awaitable<Enforcer::Admission> Enforcer::admit(const core::EnforcementPlan& plan,
                                               const std::string& id,
                                               std::chrono::system_clock::time_point expires_at) {
  if (auto now = admitAtOnce(plan, id, expires_at)) co_return std::move(*now);
  co_return co_await admitWaiting(plan, id, expires_at);
}

Awaitable<Enforcer::Admission> Enforcer::admitWaiting(
    const core::EnforcementPlan& plan,
    const std::string& id,
    std::chrono::system_clock::time_point expires_at) {
  const auto store = currentStore();
  Admission admission;
  admission.result = co_await admitOn(*store, plan, id, expires_at);
  admitted(plan, id, expires_at, admission);
  co_return admission;
}

std::optional<Enforcer::Admission> Enforcer::admitAtOnce(
    const core::EnforcementPlan& plan,
    const std::string& id,
    std::chrono::system_clock::time_point expires_at) {
  const auto store = currentStore();
  // The memory store, or this instance's leased slices: no suspension or callback. One named
  // result for every return, so it is built in the caller's place: the store's answer is
  // moved once, into it.
  std::optional<Admission> admission;
  auto now = store->admitAtOnce(plan, id, expires_at);
  if (!now) return admission;
  admission.emplace();
  admission->result = std::move(*now);
  admitted(plan, id, expires_at, *admission);
  return admission;
}

void Enforcer::admitted(const core::EnforcementPlan& plan,
                        const std::string& id,
                        std::chrono::system_clock::time_point expires_at,
                        Admission& admission) {
  admission.admitter = Admitter::Shared;
  if (admission.result.status == core::AdmissionResult::Status::StoreError) {
    if (on_unavailable_ == config::RedisConfig::OnUnavailable::FailOpen) {
      // fail_open: keep serving, with this instance's own counters as the limit meanwhile.
      noteFailOpen(admission.result.error);
      admission.result = local_->admitNow(plan, id, expires_at);
      admission.admitter = Admitter::Local;
      if (admission.result.allowed()) rememberLocalAdmission(plan, id, expires_at);
    }
  } else if (backlog_.load(std::memory_order_relaxed) > 0) {
    kickReplay(false);  // the shared store answers again: bring it up to date
  }
  // Refused by a stop this instance has not polled yet (set on another one): show it now.
  if (admission.result.emergency_stop && *admission.result.emergency_stop != emergencyStop()) {
    bool unstored;
    {
      std::lock_guard lock(mutex_);
      unstored = unstored_stop_.has_value();
    }
    if (!unstored) remember(*admission.result.emergency_stop);
  }
  if (!admission.result.allowed()) admission.admitter = Admitter::None;
}

void Enforcer::afterSettle(const std::shared_ptr<const Runtime>& runtime,
                           std::optional<core::Picodollars> period_spend,
                           std::chrono::system_clock::time_point now) {
  if (!runtime || !period_spend) return;
  const auto& rule = runtime->rules.emergency_stop;
  if (!rule.auto_stop) return;
  const auto current = emergencyStop();
  const auto next = core::evaluateEmergencyStop(current, rule, *period_spend, now);
  if (next == current) return;
  if (next.active) logger_.warn("emergency stop tripped automatically: " + next.reason);
  remember(next);
  currentStore()->setEmergencyStop(
      next, [this](core::StoreResult<core::EmergencyStopState> stored) {
        if (!stored.ok()) logger_.error("cannot store the emergency stop: " + stored.error);
      });
}

void Enforcer::checkAutoStop(const std::shared_ptr<const Runtime>& runtime,
                             std::chrono::system_clock::time_point now) {
  if (!runtime || !runtime->rules.emergency_stop.auto_stop) return;
  const core::Period period = runtime->rules.emergency_stop.auto_stop->period;
  currentStore()->spend(core::spendCounterKey(period, now),
                        [this, runtime, now](core::StoreResult<core::Picodollars> total) {
                          if (!total.ok()) {
                            logger_.warn("cannot read the spend total: " + total.error);
                            return;
                          }
                          afterSettle(runtime, *total.value, now);
                        });
}

void Enforcer::settle(Admitter admitter,
                      const core::Settlement& settlement,
                      std::shared_ptr<const Runtime> runtime) {
  if (admitter == Admitter::None) return;
  if (admitter == Admitter::Local) {
    auto admission = takeLocalAdmission(settlement.reservation_id);
    local_->settle(settlement, [this, runtime, settlement, admission = std::move(admission)](
                                   core::StoreResult<core::SettleResult> result) mutable {
      if (!result.ok()) {
        logger_.warn("settling " + settlement.reservation_id + " locally failed: " + result.error);
        return;
      }
      const auto outcome = result.value->outcome;
      if (admission && settlement.actual_cost > 0 &&
          (outcome == core::SettleOutcome::Settled ||
           outcome == core::SettleOutcome::SettledAfterExpiry)) {
        Replay replay;
        replay.kind = Replay::Kind::Reconcile;
        replay.reconciliation.reservation_id = settlement.reservation_id;
        replay.reconciliation.budgets = std::move(admission->budgets);
        replay.reconciliation.spend = std::move(admission->spend);
        replay.reconciliation.actual_cost = settlement.actual_cost;
        replay.reconciliation.actual_tokens = settlement.actual_tokens;
        replay.reconciliation.settled_at = settlement.now;
        replay.runtime = runtime;
        enqueue(std::move(replay));
      }
      if (observer_.settled) observer_.settled(result.value->budgets, settlement.now);
      afterSettle(runtime, result.value->period_spend, settlement.now);
    });
    return;
  }
  auto store = currentStore();
  // The memory store answers at once: no callback, no copy of the settlement, and the answer
  // goes into this thread's SettleResult, whose budget snapshots keep their capacity.
  thread_local core::SettleResult result;
  if (store->settleAtOnce(settlement, result)) {
    settledAtOnce(settlement, runtime, result);
    return;
  }
  // Counted until answered, and a failure is queued before the count drops: finishReplays()
  // never sees neither.
  settles_in_flight_.fetch_add(1, std::memory_order_acq_rel);
  settles_in_flight_cost_.fetch_add(settlement.actual_cost, std::memory_order_acq_rel);
  store->settle(
      settlement, [this, store, runtime, settlement](core::StoreResult<core::SettleResult> result) {
        sharedSettled(store, settlement, runtime, std::move(result));
        settles_in_flight_cost_.fetch_sub(settlement.actual_cost, std::memory_order_acq_rel);
        settles_in_flight_.fetch_sub(1, std::memory_order_acq_rel);
      });
}

void Enforcer::sharedSettled(const core::CounterStorePtr& store,
                             const core::Settlement& settlement,
                             const std::shared_ptr<const Runtime>& runtime,
                             core::StoreResult<core::SettleResult> result) {
  if (!result.ok()) {
    logger_.warn("settling " + settlement.reservation_id + " failed (will retry): " + result.error);
    Replay replay;
    replay.kind = Replay::Kind::Settle;
    replay.settlement = settlement;
    replay.runtime = runtime;
    if (!unavailableError(store, result.error)) replay.failures = 1;
    enqueue(std::move(replay));
    return;
  }
  settledAtOnce(settlement, runtime, *result.value);
}

void Enforcer::settledAtOnce(const core::Settlement& settlement,
                             const std::shared_ptr<const Runtime>& runtime,
                             const core::SettleResult& result) {
  if (backlog_.load(std::memory_order_relaxed) > 0) kickReplay(false);
  if (observer_.settled) observer_.settled(result.budgets, settlement.now);
  afterSettle(runtime, result.period_spend, settlement.now);
}

void Enforcer::changeEmergencyStop(
    std::function<core::EmergencyStopState(const core::EmergencyStopState&)> change,
    std::function<void(core::StoreResult<core::EmergencyStopState>)> done) {
  // Start from the store's state, not the cache: another instance may have changed it.
  const auto store = currentStore();
  store->emergencyStop([this, store, change = std::move(change), done = std::move(done)](
                           core::StoreResult<core::EmergencyStopState> current) mutable {
    if (!current.ok()) {
      // The store is down, which is when the stop matters most (with fail_open, traffic goes
      // on): apply it here now, from what this instance last saw, and store it when it can.
      const auto next = change(emergencyStop());
      keepUnstored(next, current.error);
      done(core::StoreResult<core::EmergencyStopState>::success(next));
      return;
    }
    const auto next = change(*current.value);
    store->setEmergencyStop(next, [this, next, done = std::move(done)](
                                      core::StoreResult<core::EmergencyStopState> stored) {
      if (!stored.ok()) {
        keepUnstored(next, stored.error);
        done(core::StoreResult<core::EmergencyStopState>::success(next));
        return;
      }
      {
        std::lock_guard lock(mutex_);
        unstored_stop_.reset();
      }
      remember(*stored.value);
      done(std::move(stored));
    });
  });
}

void Enforcer::keepUnstored(const core::EmergencyStopState& state, const std::string& error) {
  {
    std::lock_guard lock(mutex_);
    unstored_stop_ = state;
  }
  logger_.warn("cannot store the emergency stop (" + error + "): turned " +
               (state.active ? "on" : "off") +
               " on this instance only until the store answers, then stored there");
  remember(state);
}

std::string Enforcer::emergencyStopWarning() const {
  {
    std::lock_guard lock(mutex_);
    if (unstored_stop_) {
      return "the counter store did not answer: this change applies on this instance only until "
             "it is stored there (tried every poll)";
    }
  }
  return emergency_stop_warning_ ? emergency_stop_warning_() : std::string();
}

void Enforcer::refresh() {
  const auto store = currentStore();
  store->emergencyStop([this, store](core::StoreResult<core::EmergencyStopState> state) {
    if (!state.ok()) return;
    // The store answers: what waits for it goes now, whether or not requests come (a backlog
    // queued after the last trigger would otherwise wait for the next request).
    if (backlog_.load(std::memory_order_acquire) > 0) kickReplay(false);
    const auto& stored = *state.value;
    std::optional<core::EmergencyStopState> unstored;
    {
      std::lock_guard lock(mutex_);
      unstored = unstored_stop_;
    }
    if (unstored) {
      if (stored.since > unstored->since) {
        // Another instance changed the stop after this one could not store its change: the
        // later change wins, as between two stored ones.
        {
          std::lock_guard lock(mutex_);
          if (unstored_stop_ == unstored) unstored_stop_.reset();
        }
        remember(stored);
        return;
      }
      store->setEmergencyStop(
          *unstored, [this, unstored](core::StoreResult<core::EmergencyStopState> written) {
            if (!written.ok()) return;  // the next poll tries again
            {
              std::lock_guard lock(mutex_);
              if (unstored_stop_ == unstored) unstored_stop_.reset();
            }
            logger_.info("emergency stop changed while the store was down is stored now");
            remember(*written.value);
          });
      return;
    }
    const auto now = std::chrono::system_clock::now();
    const auto expired = core::expireEmergencyStop(stored, now);
    if (expired == stored) {
      remember(stored);
      return;
    }
    // This instance changed the stop since the read (admin API, auto trip): leave that alone.
    const auto cached = emergencyStop();
    if (cached != expired && cached.since > stored.since) return;
    // The stop ran out: store the off state, but only over the stop that ran out. Another
    // instance may have set a new stop since this read; that one wins. Every instance that
    // saw the old stop writes the same off state, so which of them writes it does not matter.
    store->replaceEmergencyStop(stored, expired,
                                [this, expired](core::StoreResult<core::EmergencyStopState> held) {
                                  if (!held.ok()) {
                                    // Remember it anyway, so the cache never turns back on; the
                                    // next poll writes it.
                                    logger_.error("cannot store the emergency stop: " + held.error);
                                    remember(expired);
                                    return;
                                  }
                                  if (*held.value == expired)
                                    logger_.info("emergency stop ended: its time ran out");
                                  remember(*held.value);
                                });
  });
}

void Enforcer::noteFailOpen(const std::string& error) {
  // Said at most every kFailOpenLogEvery: a store that is slow rather than down (an admit past its
  // timeout) shows nowhere else, and an outage must not write a line per request.
  const auto now = std::chrono::steady_clock::now().time_since_epoch();
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now).count();
  auto last = last_fail_open_log_ms_.load(std::memory_order_relaxed);
  if (last != 0 && now_ms - last < kFailOpenLogEvery.count()) return;
  if (!last_fail_open_log_ms_.compare_exchange_strong(last, now_ms, std::memory_order_relaxed)) {
    return;
  }
  logger_.warn("counter store did not answer (" + error +
               "): admitting on this instance's own counters (fail_open), reconciled when it "
               "answers again");
}

// ---- Reconciliation ---------------------------------------------------------------------------

void Enforcer::rememberLocalAdmission(const core::EnforcementPlan& plan,
                                      const std::string& id,
                                      std::chrono::system_clock::time_point expires_at) {
  std::lock_guard lock(replay_mutex_);
  ++stats_.local_admissions;
  if (local_admissions_.size() >= options_.replay_limit) {
    // Requests that never settled (they should all settle): forget those past their expiry.
    std::erase_if(local_admissions_,
                  [&](const auto& entry) { return entry.second.expires_at <= plan.now; });
    if (local_admissions_.size() >= options_.replay_limit) {
      ++stats_.dropped;
      if (stats_.dropped == 1 || stats_.dropped % 10000 == 0) {
        logger_.error("fail_open: too many local admissions in flight; " + id +
                      " will not be reconciled (" + std::to_string(stats_.dropped) +
                      " dropped so far)");
      }
      return;
    }
  }
  local_admissions_[id] = LocalAdmission{plan.budgets, plan.spend, expires_at};
}

std::optional<Enforcer::LocalAdmission> Enforcer::takeLocalAdmission(const std::string& id) {
  std::lock_guard lock(replay_mutex_);
  auto it = local_admissions_.find(id);
  if (it == local_admissions_.end()) return std::nullopt;
  LocalAdmission admission = std::move(it->second);
  local_admissions_.erase(it);
  return admission;
}

void Enforcer::enqueue(Replay replay) {
  {
    std::lock_guard lock(replay_mutex_);
    if (replays_.size() + in_flight_ >= options_.replay_limit) {
      ++stats_.dropped;
      if (stats_.dropped == 1 || stats_.dropped % 10000 == 0) {
        logger_.error("reconciliation queue full (" + std::to_string(options_.replay_limit) +
                      "): the cost of " +
                      (replay.kind == Replay::Kind::Settle ? replay.settlement.reservation_id
                                                           : replay.reconciliation.reservation_id) +
                      " will not reach the shared store (" + std::to_string(stats_.dropped) +
                      " dropped so far)");
      }
      return;
    }
    replays_.push_back(std::move(replay));
    backlog_.store(replays_.size() + in_flight_, std::memory_order_release);
  }
  kickReplay(false);
}

void Enforcer::reconcileNow() { kickReplay(true); }

Enforcer::ReconcileStats Enforcer::reconcileStats() const {
  std::lock_guard lock(replay_mutex_);
  ReconcileStats stats = stats_;
  stats.queued = replays_.size() + in_flight_;
  return stats;
}

bool Enforcer::kickReplay(bool force) {
  auto round = std::make_shared<Round>();
  {
    std::lock_guard lock(replay_mutex_);
    if (replaying_ || replays_.empty()) return false;
    const auto now = std::chrono::steady_clock::now();
    if (!force && now < next_attempt_) return false;
    round->store = currentStore();
    round->reconciling = reconcilingOf(round->store);
    const std::size_t n = std::min(options_.replay_batch, replays_.size());
    round->items.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      round->items.push_back(std::move(replays_.front()));
      replays_.pop_front();
    }
    replaying_ = true;
    in_flight_ = n;
    in_flight_cost_ = 0;
    for (const auto& item : round->items) {
      in_flight_cost_ +=
          costOf(item.reconciliation, item.settlement, item.kind == Replay::Kind::Settle);
    }
    round->remaining = n;
  }
  // Every item's callback may run inline (memory store) or later on an event loop.
  for (std::size_t i = 0; i < round->items.size(); ++i) sendReplay(round, i);
  return true;
}

void Enforcer::sendReplay(const std::shared_ptr<Round>& round, std::size_t index) {
  Replay& item = round->items[index];
  auto alive = std::weak_ptr<Enforcer*>(self_);
  if (item.kind == Replay::Kind::Reconcile) {
    if (!round->reconciling) {
      // The store does not share counters (memory): nothing to bring up to date.
      finishReplay(round, index, true, false, {});
      return;
    }
    round->reconciling->reconcile(
        item.reconciliation,
        [alive, round, index](core::StoreResult<core::ReconcileResult> result) {
          auto self = alive.lock();
          if (!self) return;
          Enforcer& enforcer = **self;
          if (result.ok()) {
            const Replay& done = round->items[index];
            {
              std::lock_guard lock(enforcer.replay_mutex_);
              if (result.value->outcome == core::ReconcileOutcome::Added) {
                ++enforcer.stats_.reconciled;
              } else {
                ++enforcer.stats_.already;
              }
            }
            const auto& spend = done.reconciliation.spend;
            const auto now = std::chrono::system_clock::now();
            if (spend && spend->window.start <= now && now < spend->window.end) {
              enforcer.afterSettle(done.runtime, result.value->period_spend, now);
            }
            enforcer.finishReplay(round, index, true, false, {});
            return;
          }
          enforcer.finishReplay(round, index, false, unavailableError(round->store, result.error),
                                result.error);
        });
    return;
  }
  round->store->settle(
      item.settlement, [alive, round, index](core::StoreResult<core::SettleResult> result) {
        auto self = alive.lock();
        if (!self) return;
        Enforcer& enforcer = **self;
        if (result.ok()) {
          const Replay& done = round->items[index];
          {
            std::lock_guard lock(enforcer.replay_mutex_);
            ++enforcer.stats_.settled;
          }
          if (result.value->outcome == core::SettleOutcome::UnknownReservation) {
            enforcer.logger_.warn("retried settle of " + done.settlement.reservation_id +
                                  ": the shared store no longer knows the reservation; its cost (" +
                                  std::to_string(done.settlement.actual_cost) +
                                  " picodollars) is not counted there");
          }
          enforcer.afterSettle(done.runtime, result.value->period_spend, done.settlement.now);
          enforcer.finishReplay(round, index, true, false, {});
          return;
        }
        enforcer.finishReplay(round, index, false, unavailableError(round->store, result.error),
                              result.error);
      });
}

void Enforcer::finishReplay(const std::shared_ptr<Round>& round,
                            std::size_t index,
                            bool ok,
                            bool unavailable,
                            const std::string& error) {
  bool last = false;
  {
    std::lock_guard lock(round->mutex);
    if (!ok) {
      Replay& item = round->items[index];
      if (unavailable) {
        round->unavailable = true;
        round->retry.push_back(std::move(item));
      } else if (++item.failures < options_.replay_max_failures) {
        round->retry.push_back(std::move(item));
      } else {
        const std::string& id = item.kind == Replay::Kind::Settle
                                    ? item.settlement.reservation_id
                                    : item.reconciliation.reservation_id;
        logger_.error("giving up reconciling " + id + " after " + std::to_string(item.failures) +
                      " failures: " + error);
        std::lock_guard replay_lock(replay_mutex_);
        ++stats_.dropped;
      }
    }
    last = --round->remaining == 0;
  }
  if (last) endRound(round);
}

void Enforcer::endRound(const std::shared_ptr<Round>& round) {
  bool more = false;
  {
    std::lock_guard lock(replay_mutex_);
    // Failed items go to the back: the others need not wait behind one the store refuses.
    for (auto& item : round->retry) replays_.push_back(std::move(item));
    in_flight_ = 0;
    in_flight_cost_ = 0;
    replaying_ = false;
    backlog_.store(replays_.size(), std::memory_order_release);
    if (round->unavailable || !round->retry.empty()) {
      next_attempt_ = std::chrono::steady_clock::now() + options_.replay_retry_delay;
    } else {
      // The store took everything: an entry queued from now on goes at once, not after the
      // delay an earlier failed round set (nothing else would send it once requests stop).
      next_attempt_ = {};
    }
    more = !round->unavailable && !replays_.empty();
    if (!round->retry.empty() && !round->unavailable) {
      // Only refused items are left over: wait for the delay instead of spinning on them.
      more = replays_.size() > round->retry.size();
    }
  }
  if (round->unavailable) {
    logger_.debug("reconciliation paused: the shared store is unavailable");
  }
  if (more) kickReplay(true);
}

Enforcer::Unsent Enforcer::unsent() const {
  std::lock_guard lock(replay_mutex_);
  Unsent left;
  left.entries = replays_.size() + in_flight_ + settles_in_flight_.load(std::memory_order_acquire);
  left.cost = in_flight_cost_ + settles_in_flight_cost_.load(std::memory_order_acquire);
  for (const auto& item : replays_) {
    left.cost += costOf(item.reconciliation, item.settlement, item.kind == Replay::Kind::Settle);
  }
  return left;
}

void Enforcer::finishReplays(net::io_context& loop,
                             std::chrono::milliseconds limit,
                             std::function<void(Unsent)> done) {
  struct Finish {
    explicit Finish(net::io_context& loop) : timer(loop) {}
    net::steady_timer timer;
    std::chrono::steady_clock::time_point deadline;
    std::function<void(Unsent)> done;
    std::function<void()> step;
  };
  static constexpr std::chrono::milliseconds kPoll{20};
  auto finish = std::make_shared<Finish>(loop);
  finish->deadline = std::chrono::steady_clock::now() + limit;
  finish->done = std::move(done);
  // The step holds the state only weakly: the last handler owns it, so it ends with the wait.
  finish->step = [this, weak = std::weak_ptr<Finish>(finish), first = true]() mutable {
    auto self = weak.lock();
    if (!self) return;
    if (backlog_.load(std::memory_order_acquire) == 0 &&
        settles_in_flight_.load(std::memory_order_acquire) == 0) {
      auto finished = std::move(self->done);
      return finished(Unsent{});
    }
    if (std::chrono::steady_clock::now() >= self->deadline) {
      const Unsent left = unsent();
      if (left.entries > 0) {
        // "Not confirmed": one written before Redis stalled may still be applied when it wakes.
        logger_.warn("stopping with " + std::to_string(left.entries) +
                     " cost(s) the counter store has not confirmed (" + core::formatUsd(left.cost) +
                     " USD, " + std::to_string(left.cost) +
                     " picodollars): unless already on their way, the shared counters miss "
                     "them; the ledger has them");
      }
      auto finished = std::move(self->done);
      return finished(left);
    }
    // Forced until this wait has started a round of its own (what waits may be in a round that
    // began before the store took writes again, or a settle still on its way may fail and queue
    // itself later); then as after any call, so a refused entry is not retried (and given up)
    // many times within the wait. No-op while a round is in flight.
    if (kickReplay(first)) first = false;
    self->timer.expires_after(kPoll);
    self->timer.async_wait([self](const boost::system::error_code&) { self->step(); });
  };
  net::post(loop, [finish] { finish->step(); });
}

}  // namespace spendgate::proxy
