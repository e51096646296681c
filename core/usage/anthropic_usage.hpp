#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>

#include "core/usage/json_fields.hpp"
#include "core/usage/usage.hpp"

namespace spendgate::core {

/**
 * Anthropic's raw usage counters, kept as reported so that streamed `message_delta` usage can
 * replace them field by field (its values are cumulative: never add them).
 */
struct AnthropicCounters {
  std::optional<std::int64_t>
      input_tokens;  // uncached input only (disjoint from the cache counters)
  std::optional<std::int64_t> cache_creation_input_tokens;
  std::optional<std::int64_t> cache_read_input_tokens;
  std::optional<std::int64_t> cache_write_5m;  // cache_creation.ephemeral_5m_input_tokens
  std::optional<std::int64_t> cache_write_1h;  // cache_creation.ephemeral_1h_input_tokens
  std::optional<std::int64_t> output_tokens;
  std::optional<std::int64_t> reasoning_tokens;  // output_tokens_details, when present
  std::optional<std::int64_t> web_search_requests;
  std::string service_tier;

  /**
   * Overwrites every counter that `usage` carries with a non-null value; absent and null fields
   * keep their previous value (message_start's, for a stream).
   */
  void merge(const boost::json::object& usage, json_fields::CountReader& counts);

  /** @return the normalized counts (input = uncached + cache read + cache write). */
  Usage normalized(json_fields::CountReader& counts) const;
};

}  // namespace spendgate::core
