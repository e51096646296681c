#include "core/ledger/ledger_entry.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <cstdio>
#include <ctime>

namespace spendgate::core {

namespace {

void appendString(std::string& out, std::string_view key, std::string_view value) {
  out += '"';
  out += key;
  out += "\":";
  out += boost::json::serialize(boost::json::string(value));
  out += ',';
}

void appendRaw(std::string& out, std::string_view key, std::string_view raw) {
  out += '"';
  out += key;
  out += "\":";
  out += raw;
  out += ',';
}

std::string formatMillis(double ms) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.3f", ms < 0 ? 0.0 : ms);
  return buffer;
}

}  // namespace

std::string formatUsd(std::int64_t picousd) {
  const bool negative = picousd < 0;
  const std::uint64_t magnitude = negative ? static_cast<std::uint64_t>(-(picousd + 1)) + 1
                                           : static_cast<std::uint64_t>(picousd);
  constexpr std::uint64_t kPerUsd = 1'000'000'000'000ULL;
  std::string out = negative ? "-" : "";
  out += std::to_string(magnitude / kPerUsd);
  std::uint64_t fraction = magnitude % kPerUsd;
  if (fraction != 0) {
    char digits[13];
    std::snprintf(digits, sizeof digits, "%012llu", static_cast<unsigned long long>(fraction));
    std::string_view text(digits, 12);
    while (text.back() == '0') text.remove_suffix(1);
    out += '.';
    out += text;
  }
  return out;
}

std::string formatRfc3339(std::chrono::system_clock::time_point time) {
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(millis / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(millis % 1000));
  return buffer;
}

std::string toJsonLine(const LedgerEntry& e) {
  std::string out = "{";
  out.reserve(512);
  appendString(out, "ts", formatRfc3339(e.ts));
  appendString(out, "request_id", e.request_id);
  appendString(out, "provider", e.provider);
  appendString(out, "model", e.model);
  appendString(out, "requested_model", e.requested_model);
  appendString(out, "key", e.key);
  appendString(out, "user", e.user);
  appendString(out, "team", e.team);
  appendString(out, "customer", e.customer);
  appendString(out, "agent", e.agent);
  appendRaw(out, "status", std::to_string(e.status));
  appendRaw(out, "stream", e.stream ? "true" : "false");
  appendRaw(out, "input_tokens", std::to_string(e.input_tokens));
  appendRaw(out, "cached_input_tokens", std::to_string(e.cached_input_tokens));
  appendRaw(out, "cache_write_tokens", std::to_string(e.cache_write_tokens));
  appendRaw(out, "output_tokens", std::to_string(e.output_tokens));
  appendRaw(out, "reasoning_tokens", std::to_string(e.reasoning_tokens));
  appendRaw(out, "cost_usd", formatUsd(e.cost_picousd));
  appendString(out, "price_source", e.price_source);
  appendString(out, "usage_source", e.usage_source);
  appendRaw(out, "latency_ms", formatMillis(e.latency_ms));
  appendRaw(out, "upstream_ms", formatMillis(e.upstream_ms));
  out.back() = '}';
  out += '\n';
  return out;
}

}  // namespace spendgate::core
