#pragma once

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/store/counter_store.hpp"
#include "core/store/lease_book.hpp"
#include "proxy/net.hpp"
#include "proxy/store/reconciling_store.hpp"

namespace spendgate::proxy {

class Logger;
class RedisCounterStore;

/**
 * Takes Redis off the per-request path (docs/store.md "Leased slices"): a CounterStore around a
 * RedisCounterStore that leases slices of hard budgets and rate limits to this instance
 * (lease.lua) and admits and settles requests against them in memory (core::LeaseBook). A plan
 * that cannot be satisfied entirely from local slices takes the exact path (the inner store's
 * admit.lua / settle.lua, unchanged) and makes the book want its counters. A timer on loop 0
 * flushes every `flush_interval` while the book holds anything: local spend, in-flight changes,
 * slices to renew, top up or hand back. An exact admission refused only because of slices
 * leased to instances is retried every `reclaim_retry` for up to `reclaim_wait` while their
 * holders give them back.
 *
 * Thread-safe: one lock around the book; callbacks of local admissions and settles run inline.
 * stop() (or destruction) hands every slice back and sends the unflushed spend, best effort.
 */
class LeasingCounterStore final : public core::CounterStore,
                                  public ReconcilingStore,
                                  public std::enable_shared_from_this<LeasingCounterStore> {
public:
  struct Options {
    core::LeaseBookOptions book;
    std::chrono::milliseconds flush_interval{50};
    std::chrono::milliseconds reclaim_retry{25};
    std::chrono::milliseconds reclaim_wait{200};
    /** Use Redis TIME in lease.lua (as RedisCounterStore::Options::server_time). */
    bool server_time = false;
    /** stop() flushes (and retries a failed flush) for up to this long. */
    std::chrono::milliseconds stop_wait{2000};
    /**
     * What the book and the flushes read the time from; null: the system clock. Tests pass a
     * manual one (the contract suite). Timers (flush interval, reclaim and stop waits) stay real.
     */
    std::shared_ptr<const core::Clock> clock;
  };
  struct Stats {
    std::uint64_t local_admissions = 0;
    std::uint64_t exact_admissions = 0;
    std::uint64_t flushes = 0;
    std::uint64_t failed_flushes = 0;
  };

  /** @param loops the inner store's loops; the flush timer runs on loops[0] */
  static std::shared_ptr<LeasingCounterStore> create(std::shared_ptr<RedisCounterStore> inner,
                                                     std::vector<net::io_context*> loops,
                                                     Logger& logger,
                                                     Options options);
  static std::shared_ptr<LeasingCounterStore> create(std::shared_ptr<RedisCounterStore> inner,
                                                     std::vector<net::io_context*> loops,
                                                     Logger& logger);
  ~LeasingCounterStore() override;

  // core::CounterStore
  void admit(const core::EnforcementPlan& plan,
             const std::string& reservation_id,
             std::chrono::system_clock::time_point expires_at,
             AdmitCallback callback) override;
  void settle(const core::Settlement& settlement, SettleCallback callback) override;
  void budgets(std::chrono::system_clock::time_point now, BudgetsCallback callback) override;
  void spend(const std::string& spend_key, SpendCallback callback) override;
  void emergencyStop(EmergencyStopCallback callback) override;
  void setEmergencyStop(const core::EmergencyStopState& state,
                        EmergencyStopCallback callback) override;
  void replaceEmergencyStop(const core::EmergencyStopState& expected,
                            const core::EmergencyStopState& next,
                            EmergencyStopCallback callback) override;
  bool up() const override;

  // ReconcilingStore: the inner store's
  void reconcile(const core::Reconciliation& reconciliation, ReconcileCallback callback) override;
  void setAvailabilityListener(std::function<void()> listener) override;
  bool unavailable(const std::string& error) const override;

  /**
   * The local half of admit(): the answer when every rule of `plan` can be satisfied from this
   * instance's slices, else nullopt (admit() then takes the exact path). Lets the Enforcer skip
   * the callback and its post for local admissions.
   */
  std::optional<core::AdmissionResult> admitAtOnce(
      const core::EnforcementPlan& plan,
      const std::string& reservation_id,
      std::chrono::system_clock::time_point expires_at) override;

  /**
   * Hands every slice back and sends the unflushed spend (flushes until the book has nothing
   * left to send, retrying a failed one, for up to Options::stop_wait), logs as a warning any
   * spend Redis has not confirmed, then stops the inner store; `done` runs after that (on loop 0).
   */
  void stop(std::function<void()> done = {});

  /** Flushes now (tests); `done(ok)` runs on loop 0; ok is true when there was nothing to send. */
  void flushNow(std::function<void(bool ok)> done);

  /** Tests: behave as a crashed instance (no more flushes, nothing sent on destruction). */
  void abandon();

  const std::shared_ptr<RedisCounterStore>& inner() const { return inner_; }
  const std::string& instanceId() const { return instance_; }
  Stats stats() const;
  std::optional<core::LeaseBook::BudgetView> slice(const std::string& counter_key) const;

private:
  LeasingCounterStore(std::shared_ptr<RedisCounterStore> inner,
                      std::vector<net::io_context*> loops,
                      Logger& logger,
                      Options options);

  void armLocked();
  void scheduleTick();
  void tick();
  void send(core::LeaseFlush flush, std::function<void(bool ok)> done);
  /** @param immediate successful flushes in a row that were followed at once by another */
  void finalFlush(std::chrono::steady_clock::time_point deadline,
                  std::function<void()> done,
                  int immediate);
  void finishStop(std::function<void()> done);
  static constexpr std::chrono::milliseconds kFinalFlushRetry{50};
  static constexpr int kFinalFlushImmediate = 3;
  void exactAdmit(std::shared_ptr<core::EnforcementPlan> plan,
                  std::string id,
                  std::chrono::system_clock::time_point expires_at,
                  AdmitCallback callback,
                  std::chrono::steady_clock::time_point deadline);
  /** An exact admission answered `reclaiming`: frees this instance's own slices or waits. */
  void retryReclaiming(std::shared_ptr<core::EnforcementPlan> plan,
                       std::string id,
                       std::chrono::system_clock::time_point expires_at,
                       std::chrono::steady_clock::time_point deadline,
                       std::chrono::system_clock::time_point sent_wall,
                       core::AdmissionResult result,
                       AdmitCallback callback);
  net::io_context& currentLoop() const;

  std::shared_ptr<RedisCounterStore> inner_;
  std::vector<net::io_context*> loops_;
  Logger& logger_;
  Options options_;
  const core::Clock& clock_;
  std::string instance_;
  std::shared_ptr<net::steady_timer> timer_;

  mutable std::mutex mutex_;
  core::LeaseBook book_;
  bool armed_ = false;
  bool stopped_ = false;
  bool abandoned_ = false;

  std::atomic<std::uint64_t> local_{0};
  std::atomic<std::uint64_t> exact_{0};
  std::atomic<std::uint64_t> flushes_{0};
  std::atomic<std::uint64_t> failed_{0};
};

}  // namespace spendgate::proxy
