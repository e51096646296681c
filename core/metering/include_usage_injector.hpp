#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace spendgate::core {

/**
 * Rewrites a streamed Chat Completions request so the upstream reports usage: merges
 * `"stream_options":{"include_usage":true}` into the body. Everything else stays byte-for-byte
 * as the client sent it (a textual splice, not a re-serialization), including other
 * stream_options keys such as include_obfuscation.
 *
 * The body is read as classifyRequest reads it (request_body_json.hpp): a leading UTF-8 BOM is
 * skipped, and kept in front of the result.
 *
 * Call it only when RequestInfo::needs_usage_injection is set (Chat or legacy Completions, never
 * /v1/responses), and filter the response with UsageChunkFilter.
 *
 * @return the new body; nullopt when nothing must change or it cannot be done safely: the body is
 *   not a JSON object, `stream` is not true, include_usage is already true, or stream_options is
 *   neither an object nor null.
 */
std::optional<std::string> injectIncludeUsage(std::string_view request_body);

}  // namespace spendgate::core
