#include "proxy/metrics/prometheus_text.hpp"

#include <gtest/gtest.h>

namespace spendgate::proxy {
namespace {

constexpr const char* kReasons[] = {"emergency_stop", "unknown_key", "request_cost",
                                    "rate_limit",     "budget",      "store_unavailable",
                                    "unknown_model"};

std::string line(const std::string& reason, int value) {
  return "spendgate_denied_total{reason=\"" + reason + "\"} " + std::to_string(value) + "\n";
}

TEST(PrometheusText, EveryDenialReasonHasASeriesFromTheStart) {
  const MetricsShard none;
  const std::string text = renderPrometheus(none, ScrapeState{});
  for (const char* reason : kReasons) {
    EXPECT_NE(text.find(line(reason, 0)), std::string::npos) << reason << "\n" << text;
  }
}

TEST(PrometheusText, DenialCountsReplaceTheZeros) {
  MetricsShard shard;
  shard.denied("budget");
  shard.denied("budget");
  shard.denied("rate_limit");
  const std::string text = renderPrometheus(shard, ScrapeState{});
  EXPECT_NE(text.find(line("budget", 2)), std::string::npos) << text;
  EXPECT_NE(text.find(line("rate_limit", 1)), std::string::npos) << text;
  EXPECT_NE(text.find(line("unknown_key", 0)), std::string::npos) << text;
  EXPECT_EQ(text.find(line("budget", 0)), std::string::npos) << "one series per reason\n" << text;
}

}  // namespace
}  // namespace spendgate::proxy
