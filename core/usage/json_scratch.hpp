#pragma once

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parser.hpp>
#include <boost/json/value.hpp>
#include <cstddef>
#include <optional>
#include <string_view>

namespace spendgate::core {

/**
 * A reusable Boost.JSON parser whose values live in a monotonic arena that is recycled on every
 * parse: parsing a typical SSE chunk (a few hundred bytes) allocates nothing in the steady state.
 * The value returned by parse() stays valid until the next parse() or the scratch's destruction.
 */
class JsonScratch {
public:
  /** @param max_depth nesting limit; deeper documents fail to parse. */
  explicit JsonScratch(std::size_t max_depth = 64);
  JsonScratch(const JsonScratch&) = delete;
  JsonScratch& operator=(const JsonScratch&) = delete;

  /** @return the parsed document, or nullptr if `text` is not exactly one JSON value. */
  const boost::json::value* parse(std::string_view text) noexcept;

private:
  static constexpr std::size_t kArenaBytes = 16 * 1024;
  alignas(16) unsigned char arena_[kArenaBytes];
  boost::json::monotonic_resource resource_;
  boost::json::parser parser_;
  std::optional<boost::json::value> value_;  // move-constructed, so it keeps the arena storage
};

}  // namespace spendgate::core
