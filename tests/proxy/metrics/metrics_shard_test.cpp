#include "proxy/metrics/metrics_shard.hpp"

#include <gtest/gtest.h>

#include <string>

namespace spendgate::proxy {
namespace {

std::string key(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (const auto part : parts) {
    if (!out.empty()) out.push_back('\x1f');
    out.append(part);
  }
  return out;
}

// request() and spend() remember the series of their last call: repeated, alternating and new
// labels must still land in exactly the series they name.
TEST(MetricsShard, RepeatedAndAlternatingLabelsCountInTheirOwnSeries) {
  MetricsShard shard;
  shard.request("openai", "gpt-4o-mini", 200, 0.01, 0.0001);
  shard.request("openai", "gpt-4o-mini", 200, 0.01, 0.0001);
  shard.request("openai", "gpt-4o-mini", 429, 0, 0.0001);
  shard.request("openai", "gpt-4o", 200, 0.01, 0.0001);
  shard.request("openai", "gpt-4o-mini", 200, 0.01, 0.0001);
  shard.request("anthropic", "gpt-4o-mini", 200, 0.01, 0.0001);
  EXPECT_EQ(shard.requests.size(), 4u);
  EXPECT_EQ(shard.requests[key({"openai", "gpt-4o-mini", "200"})], 3u);
  EXPECT_EQ(shard.requests[key({"openai", "gpt-4o-mini", "429"})], 1u);
  EXPECT_EQ(shard.requests[key({"openai", "gpt-4o", "200"})], 1u);
  EXPECT_EQ(shard.requests[key({"anthropic", "gpt-4o-mini", "200"})], 1u);

  shard.spend("openai", "gpt-4o-mini", 100, {.input = 10, .output = 5});
  shard.spend("openai", "gpt-4o-mini", 100, {.input = 10, .output = 5});
  // A kind first seen on a repeated call (reasoning) gets its own series.
  shard.spend("openai", "gpt-4o-mini", 100, {.input = 10, .output = 5, .reasoning = 2});
  shard.spend("openai", "gpt-4o", 7, {.input = 1});
  shard.spend("openai", "gpt-4o-mini", 1, {.cached_input = 3});
  EXPECT_EQ(shard.spend_picodollars.size(), 2u);
  EXPECT_EQ(shard.spend_picodollars[key({"openai", "gpt-4o-mini"})], 301);
  EXPECT_EQ(shard.spend_picodollars[key({"openai", "gpt-4o"})], 7);
  EXPECT_EQ(shard.tokens.size(), 5u);  // zero counts make no series
  EXPECT_EQ(shard.tokens[key({"openai", "gpt-4o-mini", "input"})], 30);
  EXPECT_EQ(shard.tokens[key({"openai", "gpt-4o-mini", "output"})], 15);
  EXPECT_EQ(shard.tokens[key({"openai", "gpt-4o-mini", "reasoning"})], 2);
  EXPECT_EQ(shard.tokens[key({"openai", "gpt-4o-mini", "cached_input"})], 3);
  EXPECT_EQ(shard.tokens[key({"openai", "gpt-4o", "input"})], 1);
}

// Once a family holds kMaxSeries series, every call counts under model "other", even one whose
// own series exists (and was the last one counted).
TEST(MetricsShard, FullFamilyCountsUnderOther) {
  MetricsShard shard;
  shard.spend("openai", "gpt-4o-mini", 5, {.input = 1});
  shard.request("openai", "gpt-4o-mini", 200, 0.01, 0.0001);
  for (std::size_t i = 1; i < MetricsShard::kMaxSeries; ++i) {
    shard.requests[key({"p", std::to_string(i), "200"})] = 1;
    shard.spend_picodollars[key({"p", std::to_string(i)})] = 1;
  }
  shard.request("openai", "gpt-4o-mini", 200, 0.01, 0.0001);
  shard.spend("openai", "gpt-4o-mini", 5, {.input = 1});
  EXPECT_EQ(shard.requests[key({"openai", "gpt-4o-mini", "200"})], 1u);
  EXPECT_EQ(shard.requests[key({"openai", "other", "200"})], 1u);
  EXPECT_EQ(shard.spend_picodollars[key({"openai", "gpt-4o-mini"})], 5);
  EXPECT_EQ(shard.spend_picodollars[key({"openai", "other"})], 5);
  EXPECT_EQ(shard.tokens[key({"openai", "other", "input"})], 1);
}

}  // namespace
}  // namespace spendgate::proxy
