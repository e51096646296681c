#pragma once

// Event loops on threads, and a blocking view of an asynchronous CounterStore, for the Redis
// store tests. Header-only: tests/CMakeLists.txt builds only *_test.cpp files.

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "core/store/counter_store.hpp"
#include "proxy/net.hpp"

namespace spendgate::proxy::test {

/** Logging for the store tests: errors only. */
inline config::LoggingConfig quietLogging() {
  config::LoggingConfig logging;
  logging.level = "error";
  return logging;
}

/** N io_contexts, each run by its own thread (like the proxy's workers) until destruction. */
class LoopThreads {
public:
  explicit LoopThreads(std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) {
      contexts_.push_back(std::make_unique<net::io_context>(1));
      guards_.emplace_back(contexts_.back()->get_executor());
    }
    for (std::size_t i = 0; i < count; ++i) {
      threads_.emplace_back([context = contexts_[i].get()] { context->run(); });
    }
  }
  ~LoopThreads() { stop(); }

  /** Lets the loops finish (pending handlers still run until none are left) and joins them. */
  void stop() {
    guards_.clear();
    for (auto& c : contexts_) c->stop();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  std::vector<net::io_context*> pointers() const {
    std::vector<net::io_context*> out;
    for (const auto& c : contexts_) out.push_back(c.get());
    return out;
  }
  net::io_context& operator[](std::size_t i) { return *contexts_[i]; }
  std::thread::id threadId(std::size_t i) const { return threads_[i].get_id(); }
  std::size_t size() const { return contexts_.size(); }

  /** Runs `fn` on loop `i` and waits for its result. */
  template <typename Fn>
  auto runOn(std::size_t i, Fn fn) -> decltype(fn()) {
    std::packaged_task<decltype(fn())()> task(std::move(fn));
    auto future = task.get_future();
    net::post(*contexts_[i], [&task] { task(); });
    return future.get();
  }

private:
  std::vector<std::unique_ptr<net::io_context>> contexts_;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
};

/**
 * A CounterStore that issues every call of `inner` ON loop `loop` (so the Redis store uses that
 * loop's client) and blocks the calling (test) thread until the callback ran. So it completes
 * before the call returns, like the memory store, and core's StoreDriver works with it.
 */
class BlockingStore final : public core::CounterStore {
public:
  BlockingStore(core::CounterStorePtr inner,
                net::io_context& loop,
                std::chrono::milliseconds limit = std::chrono::seconds(10))
      : inner_(std::move(inner)), loop_(loop), limit_(limit) {}

  void admit(const core::EnforcementPlan& plan,
             const std::string& id,
             std::chrono::system_clock::time_point expires_at,
             AdmitCallback callback) override {
    callback(wait<core::AdmissionResult>(
        [&](auto done) { inner_->admit(plan, id, expires_at, std::move(done)); }));
  }
  void settle(const core::Settlement& settlement, SettleCallback callback) override {
    callback(wait<core::StoreResult<core::SettleResult>>(
        [&](auto done) { inner_->settle(settlement, std::move(done)); }));
  }
  void budgets(std::chrono::system_clock::time_point now, BudgetsCallback callback) override {
    callback(wait<core::StoreResult<std::vector<core::BudgetSnapshot>>>(
        [&](auto done) { inner_->budgets(now, std::move(done)); }));
  }
  void spend(const std::string& key, SpendCallback callback) override {
    callback(wait<core::StoreResult<core::Picodollars>>(
        [&](auto done) { inner_->spend(key, std::move(done)); }));
  }
  void emergencyStop(EmergencyStopCallback callback) override {
    callback(wait<core::StoreResult<core::EmergencyStopState>>(
        [&](auto done) { inner_->emergencyStop(std::move(done)); }));
  }
  void setEmergencyStop(const core::EmergencyStopState& state,
                        EmergencyStopCallback callback) override {
    callback(wait<core::StoreResult<core::EmergencyStopState>>(
        [&](auto done) { inner_->setEmergencyStop(state, std::move(done)); }));
  }
  void replaceEmergencyStop(const core::EmergencyStopState& expected,
                            const core::EmergencyStopState& next,
                            EmergencyStopCallback callback) override {
    callback(wait<core::StoreResult<core::EmergencyStopState>>(
        [&](auto done) { inner_->replaceEmergencyStop(expected, next, std::move(done)); }));
  }
  bool up() const override { return inner_->up(); }

  /** Thread the last callback ran on. */
  std::thread::id lastCallbackThread() const { return last_thread_; }

  /** Runs `start(done)` on the loop; returns what `done` received (exactly once). */
  template <typename Result, typename Start>
  Result wait(Start start) {
    auto promise = std::make_shared<std::promise<Result>>();
    auto calls = std::make_shared<std::atomic<int>>(0);
    auto future = promise->get_future();
    net::post(loop_, [&, promise, calls] {
      start(std::function<void(Result)>([this, promise, calls](Result r) {
        EXPECT_EQ(calls->fetch_add(1) + 1, 1) << "callback called more than once";
        last_thread_ = std::this_thread::get_id();
        promise->set_value(std::move(r));
      }));
    });
    if (future.wait_for(limit_) != std::future_status::ready) {
      ADD_FAILURE() << "store call did not complete within " << limit_.count() << " ms";
      std::abort();  // the loop still references this frame: cannot continue safely
    }
    return future.get();
  }

private:
  core::CounterStorePtr inner_;
  net::io_context& loop_;
  std::chrono::milliseconds limit_;
  std::thread::id last_thread_;
};

/** Polls `done` every 5 ms until it holds or `timeout` passes. */
template <typename Pred>
bool eventually(Pred done, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace spendgate::proxy::test
