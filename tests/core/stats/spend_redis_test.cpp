#include "core/stats/spend_redis.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <map>
#include <random>

#include "tests/core/manual_clock.hpp"

namespace spendgate::core {
namespace {

using testing::utc;
using Commands = std::vector<std::vector<std::string>>;

SettledRequest req(std::string model, Picodollars cost, std::string key = "k1") {
  SettledRequest r;
  r.provider = "openai";
  r.model = std::move(model);
  r.key = std::move(key);
  r.cost = cost;
  r.input_tokens = 100;
  r.cached_input_tokens = 0;  // zero sums are not sent
  r.output_tokens = 20;
  return r;
}

// A tiny in-test Redis: applies HINCRBY/EXPIREAT and answers HGETALL, to check the round trip.
struct FakeRedis {
  std::map<std::string, std::map<std::string, std::int64_t>> hashes;
  std::map<std::string, std::int64_t> expire_at;

  void apply(const Commands& commands) {
    for (const auto& c : commands) {
      if (c[0] == "HINCRBY") {
        ASSERT_EQ(c.size(), 4u);
        hashes[c[1]][c[2]] += std::stoll(c[3]);
      } else if (c[0] == "EXPIREAT") {
        ASSERT_EQ(c.size(), 3u);
        expire_at[c[1]] = std::stoll(c[2]);
      } else {
        FAIL() << "unexpected command " << c[0];
      }
    }
  }
  std::vector<ScriptValue> answer(const Commands& commands) {
    std::vector<ScriptValue> out;
    for (const auto& c : commands) {
      EXPECT_EQ(c[0], "HGETALL");
      std::vector<ScriptValue> items;
      for (const auto& [field, value] : hashes[c[1]]) {
        items.push_back(ScriptValue::fromString(field));
        items.push_back(ScriptValue::fromString(std::to_string(value)));
      }
      out.push_back(ScriptValue::fromArray(std::move(items)));
    }
    return out;
  }
};

TEST(SpendRedis, RecordCommandsForOneRequest) {
  const auto now = utc(2026, 3, 4, 10, 30);
  const Commands commands = redisSpendRecordCommands(req("gpt-4o-mini", 240), now, "sg:");
  const std::string day_model =
      "sg:stats:day:" + std::to_string(unixSeconds(utc(2026, 3, 4))) + ":model";
  const std::string hour_key =
      "sg:stats:hour:" + std::to_string(unixSeconds(utc(2026, 3, 4, 10))) + ":key";
  auto has = [&](std::vector<std::string> command) {
    return std::find(commands.begin(), commands.end(), command) != commands.end();
  };
  EXPECT_TRUE(has({"HINCRBY", day_model, "gpt-4o-mini|spend", "240"}));
  EXPECT_TRUE(has({"HINCRBY", day_model, "gpt-4o-mini|requests", "1"}));
  EXPECT_TRUE(has({"HINCRBY", day_model, "gpt-4o-mini|input_tokens", "100"}));
  EXPECT_TRUE(has({"HINCRBY", day_model, "gpt-4o-mini|output_tokens", "20"}));
  EXPECT_FALSE(has({"HINCRBY", day_model, "gpt-4o-mini|cached_input_tokens", "0"}));
  EXPECT_TRUE(has({"HINCRBY", hour_key, "k1|spend", "240"}));
  // Day hashes live 40 days past their end, hours 2 days.
  EXPECT_TRUE(has({"EXPIREAT", day_model, std::to_string(unixSeconds(utc(2026, 4, 14)))}));
  EXPECT_TRUE(has({"EXPIREAT", hour_key, std::to_string(unixSeconds(utc(2026, 3, 6, 11)))}));
  // 2 periods x 7 dimensions hashes: 4 increments + 1 EXPIREAT each.
  EXPECT_EQ(commands.size(), 2u * 7u * 5u);
}

TEST(SpendRedis, BatchMergesRequestsIntoOneIncrementPerField) {
  const auto now = utc(2026, 3, 4, 10, 30);
  SpendBatch batch;
  EXPECT_TRUE(batch.empty());
  for (int i = 0; i < 100; ++i) batch.add(req("gpt-4o-mini", 240), now);
  EXPECT_EQ(batch.requests(), 100);
  const Commands commands = batch.commands("sg:");
  EXPECT_EQ(commands.size(), 2u * 7u * 5u);  // same as one request
  const std::string day_model =
      "sg:stats:day:" + std::to_string(unixSeconds(utc(2026, 3, 4))) + ":model";
  EXPECT_NE(std::find(commands.begin(), commands.end(),
                      std::vector<std::string>{"HINCRBY", day_model, "gpt-4o-mini|spend", "24000"}),
            commands.end());
  batch.clear();
  EXPECT_TRUE(batch.empty());
  EXPECT_TRUE(batch.commands().empty());
}

TEST(SpendRedis, BatchSumsEqualOneRecordPerRequestAcrossValueAndWindowChanges) {
  // The batch remembers the current windows and the last value per dimension: runs of equal
  // values, values changing, hours and days rolling over, a clock stepping back, a clear() and
  // a move must all give what recording each request on its own gives.
  std::mt19937 random(7);
  const std::array<std::string, 3> models = {"gpt-4o", "gpt-4o-mini", "o3"};
  const std::array<std::string, 2> keys = {"k1", "k2"};
  auto now = utc(2026, 3, 4, 22, 50);
  FakeRedis batched;
  FakeRedis one_by_one;
  SpendBatch batch;
  for (int i = 0; i < 3000; ++i) {
    if (random() % 4 == 0) now += std::chrono::minutes(random() % 7);
    if (random() % 200 == 0) now -= std::chrono::hours(1);
    SettledRequest r =
        req(models[random() % 3 == 0 ? random() % 3 : 0], static_cast<Picodollars>(random() % 1000),
            keys[random() % 5 == 0 ? 1 : 0]);
    if (random() % 3 == 0) r.team = "team-" + std::to_string(random() % 2);
    batch.add(r, now);
    one_by_one.apply(redisSpendRecordCommands(r, now, "p:"));
    if (random() % 500 == 0) {
      batched.apply(batch.commands("p:"));
      batch.clear();
    } else if (random() % 500 == 0) {
      SpendBatch moved;
      std::swap(moved, batch);  // what the recorder's flush does
      batched.apply(moved.commands("p:"));
    }
  }
  batched.apply(batch.commands("p:"));
  EXPECT_GT(one_by_one.hashes.size(), 2u * 7u * 2u);  // crossed day and several hours
  EXPECT_EQ(batched.hashes, one_by_one.hashes);
  EXPECT_EQ(batched.expire_at, one_by_one.expire_at);
}

TEST(SpendRedis, RoundTripDayAndWeekAndMonth) {
  FakeRedis redis;
  // 2026-03-02 is a Monday. Days 1 (Sun, previous week), 2, 4 and 5 of March.
  redis.apply(redisSpendRecordCommands(req("gpt-4o", 1000), utc(2026, 3, 1, 12), "p:"));
  redis.apply(redisSpendRecordCommands(req("gpt-4o", 200), utc(2026, 3, 2, 0), "p:"));
  redis.apply(redisSpendRecordCommands(req("gpt-4o-mini", 30, "k2"), utc(2026, 3, 4, 8), "p:"));
  redis.apply(redisSpendRecordCommands(req("a|b", 4), utc(2026, 3, 5, 23, 59), "p:"));
  const auto now = utc(2026, 3, 5, 23, 59, 30);

  auto run = [&](Dimension d, Period p) {
    const Commands q = redisSpendQueryCommands(d, p, now, "p:");
    auto result = parseRedisSpendReplies(d, p, now, redis.answer(q));
    EXPECT_TRUE(result.ok()) << result.error;
    return *result.value;
  };

  const SpendReport day = run(Dimension::Model, Period::Day);
  EXPECT_EQ(day.window.start, utc(2026, 3, 5));
  ASSERT_EQ(day.groups.size(), 1u);
  EXPECT_EQ(day.groups[0].key, "a|b");  // values may contain the separator
  EXPECT_EQ(day.total, (SpendTotals{4, 1, 100, 0, 20}));

  const SpendReport week = run(Dimension::Model, Period::Week);
  EXPECT_EQ(redisSpendQueryCommands(Dimension::Model, Period::Week, now, "p:").size(), 4u);
  EXPECT_EQ(week.window.start, utc(2026, 3, 2));
  EXPECT_EQ(week.total.spend, 234);
  EXPECT_EQ(week.total.requests, 3);
  ASSERT_EQ(week.groups.size(), 3u);
  EXPECT_EQ(week.groups[0].key, "gpt-4o");
  EXPECT_EQ(week.groups[0].totals.spend, 200);

  const SpendReport month = run(Dimension::Key, Period::Month);
  EXPECT_EQ(redisSpendQueryCommands(Dimension::Key, Period::Month, now, "p:").size(), 5u);
  EXPECT_EQ(month.total.spend, 1234);
  ASSERT_EQ(month.groups.size(), 2u);
  EXPECT_EQ(month.groups[0].key, "k1");
  EXPECT_EQ(month.groups[0].totals.requests, 3);
  EXPECT_EQ(month.groups[1].key, "k2");

  const SpendReport hour = run(Dimension::Model, Period::Hour);
  EXPECT_EQ(hour.total.spend, 4);
}

TEST(SpendRedis, ParseRejectsNonsense) {
  const auto now = utc(2026, 3, 4);
  EXPECT_FALSE(parseRedisSpendReplies(Dimension::Model, Period::Day, now, {}).ok());
  EXPECT_FALSE(
      parseRedisSpendReplies(Dimension::Model, Period::Day, now, {ScriptValue::fromError("ERR x")})
          .ok());
  EXPECT_FALSE(
      parseRedisSpendReplies(Dimension::Model, Period::Day, now,
                             {ScriptValue::fromArray({ScriptValue::fromString("x|spend")})})
          .ok());
  EXPECT_FALSE(parseRedisSpendReplies(Dimension::Model, Period::Total, now, {}).ok());
  // A missing hash (nil or empty array) is an empty report; unknown fields are ignored.
  auto empty = parseRedisSpendReplies(Dimension::Model, Period::Day, now, {ScriptValue::nil()});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty.value->groups.empty());
  auto odd = parseRedisSpendReplies(
      Dimension::Model, Period::Day, now,
      {ScriptValue::fromArray({ScriptValue::fromString("m|spend"), ScriptValue::fromString("5"),
                               ScriptValue::fromString("m|requests"), ScriptValue::fromString("1"),
                               ScriptValue::fromString("m|future_metric"),
                               ScriptValue::fromString("9"), ScriptValue::fromString("nobar"),
                               ScriptValue::fromString("9")})});
  ASSERT_TRUE(odd.ok()) << odd.error;
  ASSERT_EQ(odd.value->groups.size(), 1u);
  EXPECT_EQ(odd.value->groups[0].totals, (SpendTotals{5, 1, 0, 0, 0}));
}

}  // namespace
}  // namespace spendgate::core
