#include "core/ledger/ledger_entry.hpp"

#include <ctime>

#include "core/pricing/money.hpp"

namespace spendgate::core {

namespace {

// JSON string escaping by hand: this runs once per request, and a serializer per field cost
// more than the rest of the ledger line together.
void appendEscaped(std::string& out, std::string_view value) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::size_t clean = 0;  // start of the run of characters that need no escaping
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c != '"' && c != '\\' && static_cast<unsigned char>(c) >= 0x20) continue;
    out.append(value.substr(clean, i - clean));
    clean = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += "\\u00";
        out += kHex[(c >> 4) & 0xf];
        out += kHex[c & 0xf];
    }
  }
  out.append(value.substr(clean));
}

void appendString(std::string& out, std::string_view key, std::string_view value) {
  out += '"';
  out += key;
  out += "\":\"";
  appendEscaped(out, value);
  out += "\",";
}

void appendRaw(std::string& out, std::string_view key, std::string_view raw) {
  out += '"';
  out += key;
  out += "\":";
  out += raw;
  out += ',';
}

// Fixed three decimals without printf: core does no I/O, not even through <cstdio>.
std::string formatMillis(double ms) {
  const auto micros = static_cast<std::int64_t>(ms < 0 ? 0 : ms * 1000.0 + 0.5);
  std::string fraction = std::to_string(micros % 1000);
  return std::to_string(micros / 1000) + "." + std::string(3 - fraction.size(), '0') + fraction;
}

std::string padded(long value, std::size_t width) {
  std::string text = std::to_string(value);
  return std::string(width > text.size() ? width - text.size() : 0, '0') + text;
}

}  // namespace

std::string formatRfc3339(std::chrono::system_clock::time_point time) {
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(millis / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  return padded(utc.tm_year + 1900, 4) + "-" + padded(utc.tm_mon + 1, 2) + "-" +
         padded(utc.tm_mday, 2) + "T" + padded(utc.tm_hour, 2) + ":" + padded(utc.tm_min, 2) + ":" +
         padded(utc.tm_sec, 2) + "." + padded(static_cast<long>(millis % 1000), 3) + "Z";
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
