#include "proxy/stats/redis_spend_recorder.hpp"

#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "tests/proxy/store/redis_server_fixture.hpp"

namespace spendgate::proxy {
namespace {

using namespace std::chrono_literals;
using std::chrono::system_clock;
using test::RedisServerFixture;

core::SettledRequest req(std::string model, core::Picodollars cost, std::string key) {
  core::SettledRequest r;
  r.provider = "openai";
  r.model = std::move(model);
  r.key = std::move(key);
  r.cost = cost;
  r.input_tokens = 1000;
  r.cached_input_tokens = 400;
  r.output_tokens = 200;
  return r;
}

core::StoreResult<core::SpendReport> query(core::SpendRecorder& recorder,
                                           core::Dimension dimension,
                                           core::Period period,
                                           system_clock::time_point now) {
  std::promise<core::StoreResult<core::SpendReport>> answer;
  auto future = answer.get_future();
  recorder.query(dimension, period, now, [&](auto result) { answer.set_value(std::move(result)); });
  EXPECT_EQ(future.wait_for(5s), std::future_status::ready);
  return future.get();
}

RedisSpendRecorder::Options optionsFor(const RedisServerFixture& server) {
  RedisSpendRecorder::Options options;
  options.redis.url = "redis://127.0.0.1:" + std::to_string(server.port()) + "/0";
  options.prefix = "test:";
  options.flush_interval = 50ms;
  return options;
}

bool waitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

TEST(RedisSpendRecorder, TwoInstancesShareTheirSpend) {
  if (!RedisServerFixture::available()) GTEST_SKIP() << "no redis-server";
  RedisServerFixture server;
  ASSERT_TRUE(server.start()) << server.lastError();

  RedisSpendRecorder a(optionsFor(server));
  RedisSpendRecorder b(optionsFor(server));
  const auto now = system_clock::now();
  for (int i = 0; i < 100; ++i) a.record(req("gpt-4o-mini", 240'000'000, "k1"), now);
  b.record(req("gpt-4o", 5'000'000'000, "k2"), now);
  b.record(req("gpt-4o-mini", 240'000'000, "k2"), now);
  ASSERT_TRUE(waitFor([&] { return a.flushedRequests() == 100 && b.flushedRequests() == 2; }))
      << a.flushedRequests() << " " << b.flushedRequests() << " dropped " << a.droppedRequests();

  for (core::Period period : core::kSpendPeriods) {
    auto result = query(a, core::Dimension::Model, period, now);
    ASSERT_TRUE(result.ok()) << result.error;
    const auto& report = *result.value;
    EXPECT_EQ(report.total.requests, 102) << core::periodName(period);
    EXPECT_EQ(report.total.spend, 101 * 240'000'000LL + 5'000'000'000LL);
    ASSERT_EQ(report.groups.size(), 2u);
    EXPECT_EQ(report.groups[0].key, "gpt-4o-mini");
    EXPECT_EQ(report.groups[0].totals.requests, 101);
    EXPECT_EQ(report.groups[0].totals.cached_input_tokens, 101 * 400);
    EXPECT_EQ(report.groups[1].key, "gpt-4o");
  }
  auto by_key = query(b, core::Dimension::Key, core::Period::Day, now);
  ASSERT_TRUE(by_key.ok()) << by_key.error;
  ASSERT_EQ(by_key.value->groups.size(), 2u);
  EXPECT_EQ(by_key.value->groups[0].key, "k1");
  EXPECT_EQ(by_key.value->groups[0].totals.spend, 100 * 240'000'000LL);
}

// /admin/spend right after a request on this instance must count it, not wait for the flush.
TEST(RedisSpendRecorder, AQueryIncludesThisInstancesUnflushedRequests) {
  if (!RedisServerFixture::available()) GTEST_SKIP() << "no redis-server";
  RedisServerFixture server;
  ASSERT_TRUE(server.start()) << server.lastError();

  auto options = optionsFor(server);
  options.flush_interval = 1h;  // the timer never flushes during the test
  RedisSpendRecorder recorder(options);
  const auto now = system_clock::now();
  // A query only reaches Redis once the recorder's connection is up.
  ASSERT_TRUE(waitFor(
      [&] { return query(recorder, core::Dimension::Model, core::Period::Day, now).ok(); }));
  recorder.record(req("gpt-4o-mini", 240'000'000, "k1"), now);
  recorder.record(req("gpt-4o", 5'000'000'000, "k1"), now);

  auto result = query(recorder, core::Dimension::Model, core::Period::Day, now);
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.value->total.requests, 2);
  EXPECT_EQ(result.value->total.spend, 5'240'000'000LL);
  EXPECT_EQ(recorder.flushedRequests(), 2u);
}

TEST(RedisSpendRecorder, KeepsCountingWhileRedisIsAwayAndFlushesOnShutdown) {
  if (!RedisServerFixture::available()) GTEST_SKIP() << "no redis-server";
  RedisServerFixture server;
  ASSERT_TRUE(server.start()) << server.lastError();
  auto options = optionsFor(server);
  options.flush_interval = 1h;  // only the destructor flushes
  options.redis.min_backoff = 10ms;
  options.redis.max_backoff = 50ms;
  const auto now = system_clock::now();
  {
    RedisSpendRecorder recorder(options);
    recorder.record(req("m", 7, "k"), now);
    // Not connected yet or not: the request stays in the batch until the final flush.
    std::this_thread::sleep_for(200ms);
  }
  RedisSpendRecorder reader(optionsFor(server));
  ASSERT_TRUE(waitFor([&] {
    auto r = query(reader, core::Dimension::Model, core::Period::Day, now);
    return r.ok() && r.value->total.requests == 1;
  }));

  // Redis down: query fails (a 503 from the admin API); record() still does not block.
  server.stop();
  ASSERT_TRUE(
      waitFor([&] { return !query(reader, core::Dimension::Model, core::Period::Day, now).ok(); }));
  const auto before = std::chrono::steady_clock::now();
  for (int i = 0; i < 1000; ++i) reader.record(req("m", 1, "k"), now);
  EXPECT_LT(std::chrono::steady_clock::now() - before, 500ms);
  std::this_thread::sleep_for(200ms);  // several flush intervals pass while Redis is away
  // Back: the batch held while away is sent.
  ASSERT_TRUE(server.restart()) << server.lastError();
  ASSERT_TRUE(waitFor(
      [&] {
        auto r = query(reader, core::Dimension::Model, core::Period::Day, now);
        return r.ok() && r.value->total.requests == 1000;  // the restarted server started empty
      },
      10s));
}

}  // namespace
}  // namespace spendgate::proxy
