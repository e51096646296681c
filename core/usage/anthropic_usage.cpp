#include "core/usage/anthropic_usage.hpp"

#include <algorithm>

namespace spendgate::core {

using json_fields::CountReader;
using json_fields::objectMember;
using json_fields::stringMember;

namespace {

void replace(std::optional<std::int64_t>& slot, std::optional<std::int64_t> value) {
  if (value) slot = value;
}

}  // namespace

void AnthropicCounters::merge(const boost::json::object& usage, CountReader& counts) {
  replace(input_tokens, counts.read(&usage, "input_tokens"));
  replace(cache_creation_input_tokens, counts.read(&usage, "cache_creation_input_tokens"));
  replace(cache_read_input_tokens, counts.read(&usage, "cache_read_input_tokens"));
  replace(output_tokens, counts.read(&usage, "output_tokens"));
  if (const auto* split = objectMember(&usage, "cache_creation")) {
    replace(cache_write_5m, counts.read(split, "ephemeral_5m_input_tokens"));
    replace(cache_write_1h, counts.read(split, "ephemeral_1h_input_tokens"));
  }
  if (const auto* details = objectMember(&usage, "output_tokens_details")) {
    // The field name of the thinking breakdown is not pinned down; accept both spellings.
    replace(reasoning_tokens, counts.read(details, "thinking_tokens"));
    replace(reasoning_tokens, counts.read(details, "reasoning_tokens"));
  }
  if (const auto* tools = objectMember(&usage, "server_tool_use")) {
    replace(web_search_requests, counts.read(tools, "web_search_requests"));
  }
  if (const auto tier = stringMember(&usage, "service_tier"); !tier.empty()) {
    service_tier.assign(tier);
  }
}

Usage AnthropicCounters::normalized(CountReader& counts) const {
  Usage u;
  const std::int64_t w1h = cache_write_1h.value_or(0);
  // cache_creation_input_tokens is the total write; the split (when present) only says which
  // part had the 1-hour TTL. Without the total, the split parts are the total.
  std::int64_t writes = cache_creation_input_tokens.value_or(cache_write_5m.value_or(0) + w1h);
  if (w1h > writes) {
    counts.flagAbsurd();
    writes = w1h;
  }
  const std::int64_t reads = cache_read_input_tokens.value_or(0);
  u.input_tokens = input_tokens.value_or(0) + writes + reads;
  u.cached_input_tokens = reads;
  u.cache_write_tokens = writes;
  u.cache_write_1h_tokens = w1h;
  u.cache_write_5m_tokens = writes - w1h;
  u.output_tokens = output_tokens.value_or(0);
  u.reasoning_tokens = std::min(reasoning_tokens.value_or(0), u.output_tokens);
  u.web_search_requests = web_search_requests.value_or(0);
  u.service_tier = service_tier;
  u.reported = true;
  return u;
}

}  // namespace spendgate::core
