#include "core/ledger/ledger_entry.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace spendgate::core {
namespace {

TEST(LedgerEntryTest, OneJsonObjectPerLineWithEverySpecField) {
  LedgerEntry e;
  e.ts = std::chrono::system_clock::time_point(std::chrono::milliseconds(1795411070123));
  e.request_id = "req_1";
  e.provider = "openai";
  e.model = "gpt-4o-mini-2024-07-18";
  e.requested_model = "gpt-4o-mini";
  e.key = "fp_0123456789ab";
  e.user = "al\"ice\n";
  e.status = 200;
  e.stream = true;
  e.input_tokens = 1486;
  e.cached_input_tokens = 1408;
  e.output_tokens = 651;
  e.reasoning_tokens = 512;
  // (1486-1408)*0.15 + 1408*0.075 + 651*0.60 micro-USD = 11.7 + 105.6 + 390.6 = 507.9 micro-USD
  e.cost_picousd = 507'900'000;
  e.price_source = "catalog:exact-request";
  e.usage_source = "provider";
  e.latency_ms = 12.3456;
  e.upstream_ms = 10;

  const std::string line = toJsonLine(e);
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);  // the escaped newline stays escaped
  auto json = boost::json::parse(line).as_object();
  for (auto field : {"ts",
                     "request_id",
                     "provider",
                     "model",
                     "requested_model",
                     "key",
                     "user",
                     "team",
                     "customer",
                     "agent",
                     "status",
                     "stream",
                     "input_tokens",
                     "cached_input_tokens",
                     "cache_write_tokens",
                     "output_tokens",
                     "reasoning_tokens",
                     "cost_usd",
                     "price_source",
                     "usage_source",
                     "latency_ms",
                     "upstream_ms"}) {
    EXPECT_TRUE(json.contains(field)) << field;
  }
  EXPECT_EQ(json.size(), 22u);
  EXPECT_EQ(json["ts"].as_string(), "2026-11-23T05:17:50.123Z");
  EXPECT_EQ(json["user"].as_string(), "al\"ice\n");
  EXPECT_NE(line.find("\"cost_usd\":0.0005079,"), std::string::npos) << line;
  EXPECT_NE(line.find("\"latency_ms\":12.346,"), std::string::npos) << line;
  EXPECT_EQ(json["stream"].as_bool(), true);
}

TEST(LedgerEntryTest, ControlCharactersAreEscaped) {
  LedgerEntry e;
  e.team = std::string("a\tb\x01" "c\\d", 7);
  const std::string line = toJsonLine(e);
  EXPECT_NE(line.find(R"("team":"a\tb\u0001c\\d")"), std::string::npos) << line;
  EXPECT_EQ(boost::json::parse(line).at("team").as_string(), e.team);
}

}  // namespace
}  // namespace spendgate::core
