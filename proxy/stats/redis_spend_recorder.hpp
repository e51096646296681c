#pragma once

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/stats/spend_redis.hpp"
#include "core/stats/spend_stats.hpp"
#include "proxy/store/redis_client.hpp"

namespace spendgate::proxy {

/**
 * Spend reports shared by every proxy instance through Redis (layout: core/stats/spend_redis.hpp).
 *
 * record() only merges the request into an in-memory SpendBatch under a mutex (no I/O on the
 * request path); a flush every `flush_interval` sends the merged HINCRBY/EXPIREAT commands,
 * pipelined, on the recorder's own thread and Redis connection. So the Redis load is about
 * (distinct values per dimension x fields) per flush, whatever the request rate. While Redis is
 * unreachable the batch keeps growing and is sent once it is back.
 *
 * Loss: up to one flush interval of requests on a crash or kill, and a batch whose commands fail
 * in flight (partly applied, so not retried: counted in droppedRequests()).
 * query() first flushes this instance's batch, then sends the HGETALLs of
 * redisSpendQueryCommands() on the same connection, and answers on the recorder's thread: a report
 * includes every request this instance recorded before the query.
 */
class RedisSpendRecorder final : public core::SpendRecorder {
public:
  struct Options {
    RedisClient::Options redis;
    /** Key prefix, as the counter store's (core::StoreKeys). */
    std::string prefix = "spendgate:";
    std::chrono::milliseconds flush_interval{1000};
  };

  /** Starts its thread and connection (in the background; record() works at once). */
  explicit RedisSpendRecorder(Options options);
  /** Flushes what is left (waiting up to the command timeout), then stops the thread. */
  ~RedisSpendRecorder() override;
  RedisSpendRecorder(const RedisSpendRecorder&) = delete;
  RedisSpendRecorder& operator=(const RedisSpendRecorder&) = delete;

  void record(const core::SettledRequest& request,
              std::chrono::system_clock::time_point now) override;
  void query(core::Dimension dimension,
             core::Period period,
             std::chrono::system_clock::time_point now,
             QueryCallback callback) override;

  /** Sends the current batch now (tests, shutdown); `done` runs on the recorder's thread. */
  void flush(std::function<void()> done = {});

  /** Requests sent to Redis (all their commands answered OK). */
  std::uint64_t flushedRequests() const { return flushed_.load(); }
  /** Requests whose commands failed in flight (not retried). */
  std::uint64_t droppedRequests() const { return dropped_.load(); }

private:
  void scheduleFlush();
  void flushOnThread(std::function<void()> done);

  Options options_;
  net::io_context context_{1};
  net::executor_work_guard<net::io_context::executor_type> work_;
  std::shared_ptr<RedisClient> client_;
  net::steady_timer timer_;
  std::mutex mutex_;
  core::SpendBatch batch_;
  std::atomic<std::uint64_t> flushed_{0};
  std::atomic<std::uint64_t> dropped_{0};
  std::thread thread_;
};

}  // namespace spendgate::proxy
