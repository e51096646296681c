#include "proxy/store/leasing_counter_store.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <random>
#include <stdexcept>
#include <tuple>

#include "core/pricing/money.hpp"
#include "core/store/lease_script.hpp"
#include "proxy/logging/logger.hpp"
#include "proxy/store/redis_counter_store.hpp"

namespace spendgate::proxy {

namespace {

using Steady = std::chrono::steady_clock;
using Wall = std::chrono::system_clock;

/** A random id per store: lease records and the flush sequence are per instance. */
std::string newInstanceId() {
  std::random_device device;
  std::mt19937_64 generator((static_cast<std::uint64_t>(device()) << 32) ^ device());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (std::uint64_t v = generator(), i = 0; i < 16; ++i, v >>= 4) id += kHex[v & 15];
  return id;
}

const core::Clock& systemClock() {
  static const core::SystemClock clock;
  return clock;
}

}  // namespace

std::shared_ptr<LeasingCounterStore> LeasingCounterStore::create(
    std::shared_ptr<RedisCounterStore> inner, std::vector<net::io_context*> loops, Logger& logger) {
  return create(std::move(inner), std::move(loops), logger, Options{});
}

std::shared_ptr<LeasingCounterStore> LeasingCounterStore::create(
    std::shared_ptr<RedisCounterStore> inner,
    std::vector<net::io_context*> loops,
    Logger& logger,
    Options options) {
  if (!inner || loops.empty() || loops.front() == nullptr) {
    throw std::invalid_argument("LeasingCounterStore needs a Redis store and its loops");
  }
  return std::shared_ptr<LeasingCounterStore>(
      new LeasingCounterStore(std::move(inner), std::move(loops), logger, std::move(options)));
}

LeasingCounterStore::LeasingCounterStore(std::shared_ptr<RedisCounterStore> inner,
                                         std::vector<net::io_context*> loops,
                                         Logger& logger,
                                         Options options)
    : inner_(std::move(inner)),
      loops_(std::move(loops)),
      logger_(logger),
      options_(std::move(options)),
      clock_(options_.clock ? *options_.clock : systemClock()),
      instance_(newInstanceId()),
      timer_(std::make_shared<net::steady_timer>(*loops_.front())),
      book_(options_.book) {}

LeasingCounterStore::~LeasingCounterStore() {
  // The timer is only touched on loop 0.
  net::post(*loops_.front(), [timer = timer_] { timer->cancel(); });
  std::optional<core::LeaseFlush> flush;
  {
    std::lock_guard lock(mutex_);
    if (!stopped_ && !abandoned_) flush = book_.beginFlush(clock_.now(), clock_.steadyNow(), true);
  }
  if (!flush) return;
  // Best effort: hand the slices back and send the spend (else the slices expire after the
  // lease ttl, and the unflushed spend stays only in the ledger). The reply keeps inner alive.
  inner_->lease(core::LeaseScript::call(inner_->keys(), instance_, *flush, options_.book.sizing,
                                        options_.server_time),
                [inner = inner_](core::StoreResult<core::ScriptValue>) {});
}

net::io_context& LeasingCounterStore::currentLoop() const {
  for (auto* loop : loops_) {
    if (loop->get_executor().running_in_this_thread()) return *loop;
  }
  return *loops_.front();
}

void LeasingCounterStore::armLocked() {
  if (armed_ || stopped_ || abandoned_ || book_.empty()) return;
  armed_ = true;
  net::post(*loops_.front(), [weak = weak_from_this()] {
    if (auto self = weak.lock()) self->scheduleTick();
  });
}

void LeasingCounterStore::scheduleTick() {
  timer_->expires_after(options_.flush_interval);
  timer_->async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->tick();
  });
}

void LeasingCounterStore::tick() {
  std::optional<core::LeaseFlush> flush;
  {
    std::lock_guard lock(mutex_);
    if (stopped_ || abandoned_) {
      armed_ = false;
      return;
    }
    flush = book_.beginFlush(clock_.now(), clock_.steadyNow());
  }
  if (flush) send(std::move(*flush), {});
  std::lock_guard lock(mutex_);
  if (book_.empty() || stopped_ || abandoned_) {
    armed_ = false;
    return;
  }
  scheduleTick();
}

void LeasingCounterStore::send(core::LeaseFlush flush, std::function<void(bool)> done) {
  auto call = core::LeaseScript::call(inner_->keys(), instance_, flush, options_.book.sizing,
                                      options_.server_time);
  ++flushes_;
  inner_->lease(std::move(call), [weak = weak_from_this(), flush = std::move(flush),
                                  done = std::move(done)](core::StoreResult<core::ScriptValue> r) {
    auto self = weak.lock();
    if (!self) {
      if (done) done(false);
      return;
    }
    auto reply = r.ok() ? core::LeaseScript::parse(flush, *r.value)
                        : core::StoreResult<core::LeaseReply>::failure(r.error);
    {
      std::lock_guard lock(self->mutex_);
      if (reply.ok()) {
        self->book_.endFlush(*reply.value, self->clock_.steadyNow());
      } else {
        // Kept as is and sent again (same seq): Redis applies it at most once.
        self->book_.failFlush();
      }
    }
    if (!reply.ok()) {
      const auto failed = ++self->failed_;
      if (failed == 1 || failed % 100 == 0) {
        self->logger_.warn("lease flush failed (" + std::to_string(failed) +
                           " so far; kept for a retry): " + reply.error);
      }
    }
    if (done) done(reply.ok());
  });
}

void LeasingCounterStore::flushNow(std::function<void(bool)> done) {
  net::post(*loops_.front(), [self = shared_from_this(), done = std::move(done)]() mutable {
    std::optional<core::LeaseFlush> flush;
    bool busy = false;
    {
      std::lock_guard lock(self->mutex_);
      flush = self->book_.beginFlush(self->clock_.now(), self->clock_.steadyNow());
      busy = !flush && self->book_.flushing();
    }
    if (busy) {
      // The timer's flush is in flight: this one goes after it.
      auto timer =
          std::make_shared<net::steady_timer>(*self->loops_.front(), std::chrono::milliseconds(5));
      timer->async_wait([self, timer, done = std::move(done)](const boost::system::error_code&) {
        self->flushNow(std::move(done));
      });
      return;
    }
    if (!flush) return done(true);
    self->send(std::move(*flush), std::move(done));
  });
}

void LeasingCounterStore::abandon() {
  std::lock_guard lock(mutex_);
  abandoned_ = true;
}

void LeasingCounterStore::stop(std::function<void()> done) {
  {
    std::lock_guard lock(mutex_);
    stopped_ = true;
  }
  net::post(*loops_.front(), [self = shared_from_this(), done = std::move(done)]() mutable {
    self->timer_->cancel();
    self->finalFlush(Steady::now() + self->options_.stop_wait, std::move(done), 0);
  });
}

void LeasingCounterStore::finalFlush(Steady::time_point deadline,
                                     std::function<void()> done,
                                     int immediate) {
  std::optional<core::LeaseFlush> flush;
  bool busy = false;
  bool resend = false;
  if (Steady::now() < deadline) {
    std::lock_guard lock(mutex_);
    if (!abandoned_) {
      resend = book_.resending();
      flush = book_.beginFlush(clock_.now(), clock_.steadyNow(), true);
      busy = !flush && book_.flushing();
    }
  }
  const auto again = [self = shared_from_this(), deadline](std::chrono::milliseconds after,
                                                           int immediate,
                                                           std::function<void()> done) {
    auto timer = std::make_shared<net::steady_timer>(*self->loops_.front(), after);
    timer->async_wait([self, timer, deadline, immediate,
                       done = std::move(done)](const boost::system::error_code&) mutable {
      self->finalFlush(deadline, std::move(done), immediate);
    });
  };
  if (flush) {
    return send(std::move(*flush), [self = shared_from_this(), resend, again, immediate,
                                    done = std::move(done)](bool ok) mutable {
      bool more = !ok || resend;  // a resent failed flush carried none of the later spend
      if (!more) {
        std::lock_guard lock(self->mutex_);
        more = !self->book_.unsentSpend().empty();
      }
      if (!more) return self->finishStop(std::move(done));
      // Spend that arrived meanwhile goes at once, a few times in a row; then a pause, so that
      // spend that keeps arriving (or an entry that never clears) cannot spin loop 0 until
      // stop_wait.
      if (!ok) return again(kFinalFlushRetry, 0, std::move(done));
      if (immediate < kFinalFlushImmediate) {
        return again(std::chrono::milliseconds(0), immediate + 1, std::move(done));
      }
      again(kFinalFlushRetry, 0, std::move(done));
    });
  }
  if (busy) return again(std::chrono::milliseconds(10), immediate, std::move(done));
  finishStop(std::move(done));
}

void LeasingCounterStore::finishStop(std::function<void()> done) {
  std::vector<std::pair<std::string, core::Picodollars>> unsent;
  {
    std::lock_guard lock(mutex_);
    if (!abandoned_) unsent = book_.unsentSpend();
  }
  if (!unsent.empty()) {
    std::string amounts;
    for (const auto& [key, amount] : unsent) {
      amounts += (amounts.empty() ? "" : ", ") + key + " " + core::formatUsd(amount) + " USD (" +
                 std::to_string(amount) + " picodollars)";
    }
    logger_.warn("lease store: stopping with spend Redis has not confirmed (the ledger has it): " +
                 amounts);
  }
  inner_->stop();
  if (done) done();
}

std::optional<core::AdmissionResult> LeasingCounterStore::admitAtOnce(
    const core::EnforcementPlan& plan,
    const std::string& reservation_id,
    std::chrono::system_clock::time_point expires_at) {
  // A known outage ends local admission at once (on_unavailable then decides, as without
  // leases); a silent one ends it when the slices were not renewed for the lease ttl.
  if (plan.denial || !inner_->up()) return std::nullopt;
  std::optional<core::AdmissionResult> local;
  {
    std::lock_guard lock(mutex_);
    if (!stopped_) local = book_.admit(plan, reservation_id, expires_at, clock_.steadyNow());
    armLocked();
  }
  if (local) ++local_;
  return local;
}

void LeasingCounterStore::admit(const core::EnforcementPlan& plan,
                                const std::string& reservation_id,
                                std::chrono::system_clock::time_point expires_at,
                                AdmitCallback callback) {
  if (auto local = admitAtOnce(plan, reservation_id, expires_at)) {
    callback(std::move(*local));
    return;
  }
  ++exact_;
  exactAdmit(std::make_shared<core::EnforcementPlan>(plan), reservation_id, expires_at,
             std::move(callback), Steady::now() + options_.reclaim_wait);
}

void LeasingCounterStore::exactAdmit(std::shared_ptr<core::EnforcementPlan> plan,
                                     std::string id,
                                     std::chrono::system_clock::time_point expires_at,
                                     AdmitCallback callback,
                                     std::chrono::steady_clock::time_point deadline) {
  const auto sent_wall = clock_.now();
  inner_->admit(*plan, id, expires_at,
                [weak = weak_from_this(), plan, id, expires_at, deadline, sent_wall,
                 callback = std::move(callback)](core::AdmissionResult result) mutable {
                  auto self = weak.lock();
                  if (!self || !result.reclaiming) return callback(std::move(result));
                  self->retryReclaiming(plan, id, expires_at, deadline, sent_wall,
                                        std::move(result), std::move(callback));
                });
}

void LeasingCounterStore::retryReclaiming(std::shared_ptr<core::EnforcementPlan> plan,
                                          std::string id,
                                          Wall::time_point expires_at,
                                          Steady::time_point deadline,
                                          Wall::time_point sent_wall,
                                          core::AdmissionResult result,
                                          AdmitCallback callback) {
  // This instance's own idle slice stands in the way: hand it back now and ask again as soon as
  // Redis has it (the flush timer would take two flushes, ~100 ms, or the wait runs out). Once
  // at most per slice: then nothing of it is unused, and it is not leased again for a while.
  bool own = false;
  {
    std::lock_guard lock(mutex_);
    own = !stopped_ && book_.reclaim(*plan, clock_.steadyNow());  // stopping: no new flush
  }
  // Else only other instances' slices stand in the way, and their holders were asked to give
  // back what they do not use: ask again shortly, while the wait lasts.
  if (!own && Steady::now() + options_.reclaim_retry > deadline) return callback(std::move(result));
  auto again = [weak = weak_from_this(), plan, id, expires_at, deadline, sent_wall,
                result = std::move(result), callback = std::move(callback)]() mutable {
    auto self = weak.lock();
    if (!self) return callback(std::move(result));
    plan->now += self->clock_.now() - sent_wall;  // the time waited
    self->exactAdmit(plan, id, expires_at, std::move(callback), deadline);
  };
  // The retry (and so the caller's callback) stays on the loop the caller is on; the flush
  // answers on loop 0.
  net::io_context& loop = currentLoop();
  if (own) {
    return flushNow(
        [&loop, again = std::move(again)](bool) mutable { net::post(loop, std::move(again)); });
  }
  auto timer = std::make_shared<net::steady_timer>(loop, options_.reclaim_retry);
  timer->async_wait(
      [timer, again = std::move(again)](const boost::system::error_code&) mutable { again(); });
}

void LeasingCounterStore::settle(const core::Settlement& settlement, SettleCallback callback) {
  std::optional<core::SettleResult> local;
  {
    std::lock_guard lock(mutex_);
    local = book_.settle(settlement, clock_.steadyNow());
  }
  if (local) {
    callback(core::StoreResult<core::SettleResult>::success(std::move(*local)));
    return;
  }
  inner_->settle(settlement,
                 [weak = weak_from_this(), now = settlement.now,
                  callback = std::move(callback)](core::StoreResult<core::SettleResult> result) {
                   if (auto self = weak.lock(); self && result.ok()) {
                     std::lock_guard lock(self->mutex_);
                     self->book_.adjust(result.value->budgets, now);
                     self->book_.adjustSpend(result.value->period_spend, now);
                   }
                   callback(std::move(result));
                 });
}

void LeasingCounterStore::budgets(std::chrono::system_clock::time_point now,
                                  BudgetsCallback callback) {
  inner_->budgets(now, [weak = weak_from_this(), now, callback = std::move(callback)](
                           core::StoreResult<std::vector<core::BudgetSnapshot>> result) {
    if (auto self = weak.lock(); self && result.ok()) {
      {
        std::lock_guard lock(self->mutex_);
        self->book_.adjust(*result.value, now);
      }
      std::sort(result.value->begin(), result.value->end(), [](const auto& a, const auto& b) {
        return std::tie(a.name, a.subject, a.counter_key) <
               std::tie(b.name, b.subject, b.counter_key);
      });
    }
    callback(std::move(result));
  });
}

void LeasingCounterStore::spend(const std::string& spend_key, SpendCallback callback) {
  inner_->spend(spend_key, [weak = weak_from_this(), callback = std::move(callback)](
                               core::StoreResult<core::Picodollars> result) {
    if (auto self = weak.lock(); self && result.ok()) {
      std::optional<core::Picodollars> total = *result.value;
      std::lock_guard lock(self->mutex_);
      self->book_.adjustSpend(total, self->clock_.now());
      result.value = *total;
    }
    callback(std::move(result));
  });
}

void LeasingCounterStore::emergencyStop(EmergencyStopCallback callback) {
  inner_->emergencyStop(std::move(callback));
}

void LeasingCounterStore::setEmergencyStop(const core::EmergencyStopState& state,
                                           EmergencyStopCallback callback) {
  inner_->setEmergencyStop(state, std::move(callback));
}

void LeasingCounterStore::replaceEmergencyStop(const core::EmergencyStopState& expected,
                                               const core::EmergencyStopState& next,
                                               EmergencyStopCallback callback) {
  inner_->replaceEmergencyStop(expected, next, std::move(callback));
}

bool LeasingCounterStore::up() const { return inner_->up(); }

void LeasingCounterStore::reconcile(const core::Reconciliation& reconciliation,
                                    ReconcileCallback callback) {
  inner_->reconcile(reconciliation, std::move(callback));
}

void LeasingCounterStore::setAvailabilityListener(std::function<void()> listener) {
  inner_->setAvailabilityListener(std::move(listener));
}

bool LeasingCounterStore::unavailable(const std::string& error) const {
  return inner_->unavailable(error);
}

LeasingCounterStore::Stats LeasingCounterStore::stats() const {
  return Stats{local_.load(), exact_.load(), flushes_.load(), failed_.load()};
}

std::optional<core::LeaseBook::BudgetView> LeasingCounterStore::slice(
    const std::string& counter_key) const {
  std::lock_guard lock(mutex_);
  return book_.budget(counter_key);
}

}  // namespace spendgate::proxy
