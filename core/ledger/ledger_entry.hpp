#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace spendgate::core {

/** One settled request, as the ledger records it (SPEC §6). */
struct LedgerEntry {
  std::chrono::system_clock::time_point ts;
  std::string request_id;
  std::string provider;
  std::string model;            // the model that was priced (response model when known)
  std::string requested_model;  // what the client asked for
  std::string key;              // virtual key id, or "fp_…" fingerprint of a passthrough key
  std::string user;
  std::string team;
  std::string customer;
  std::string agent;
  int status = 0;
  bool stream = false;
  std::int64_t input_tokens = 0;
  std::int64_t cached_input_tokens = 0;
  std::int64_t cache_write_tokens = 0;
  std::int64_t output_tokens = 0;
  std::int64_t reasoning_tokens = 0;
  std::int64_t cost_picousd = 0;  // 1e-12 USD: integer, so sums never drift
  std::string price_source;
  std::string usage_source;  // "provider" | "estimated"
  double latency_ms = 0;
  double upstream_ms = 0;
};

/**
 * A ledger entry's fields as views, for a writer that holds the strings elsewhere (the proxy: in
 * the request's own state) and should not copy them into a LedgerEntry first. toJsonLine writes
 * the same line from it as from the entry it views (lineOf).
 */
struct LedgerLine {
  std::chrono::system_clock::time_point ts;
  std::string_view request_id;
  std::string_view provider;
  std::string_view model;
  std::string_view requested_model;
  std::string_view key;
  std::string_view user;
  std::string_view team;
  std::string_view customer;
  std::string_view agent;
  int status = 0;
  bool stream = false;
  std::int64_t input_tokens = 0;
  std::int64_t cached_input_tokens = 0;
  std::int64_t cache_write_tokens = 0;
  std::int64_t output_tokens = 0;
  std::int64_t reasoning_tokens = 0;
  std::int64_t cost_picousd = 0;
  std::string_view price_source;
  std::string_view usage_source;
  double latency_ms = 0;
  double upstream_ms = 0;
};

/** @return views of `entry`'s fields (valid while it is unchanged). */
LedgerLine lineOf(const LedgerEntry& entry);

/** @return the entry as one JSON object followed by '\n'. */
std::string toJsonLine(const LedgerEntry& entry);
/**
 * The same line, for a caller who has formatted the cost already (the proxy writes it in a
 * header first): `cost_usd` must be formatUsd(entry.cost_picousd).
 */
std::string toJsonLine(const LedgerEntry& entry, std::string_view cost_usd);
/** The same line from views of its fields; `cost_usd` as above. */
std::string toJsonLine(const LedgerLine& line, std::string_view cost_usd);

/** @return RFC 3339 UTC with milliseconds ("2026-11-23T05:17:50.123Z"). */
std::string formatRfc3339(std::chrono::system_clock::time_point time);

/**
 * Reads an RFC 3339 time ("2026-11-23T05:17:50.123Z", any number of fraction digits, "Z" or a
 * "+hh:mm"/"-hh:mm" offset, 'T' or 't'), to the millisecond (finer digits are truncated).
 * @return nullopt when `text` is not one, or its fields are out of range, or the time is beyond
 *         what system_clock can hold (years 1678..2261 are always in range)
 */
std::optional<std::chrono::system_clock::time_point> parseRfc3339(std::string_view text);

}  // namespace spendgate::core
