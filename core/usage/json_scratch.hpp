#pragma once

#include <boost/json/value.hpp>
#include <cstddef>
#include <memory>
#include <string_view>

namespace spendgate::core {

/**
 * A reusable Boost.JSON parser whose values live in a monotonic arena that is recycled on every
 * parse: parsing a typical SSE chunk (a few hundred bytes) allocates nothing in the steady state.
 * The value returned by parse() stays valid until the next parse() or the scratch's destruction.
 *
 * The parser and its arena are allocated on the first parse(), so an owner that never parses
 * (a non-streamed answer read in one pass) pays for neither.
 */
class JsonScratch {
public:
  static constexpr std::size_t kDefaultMaxDepth = 64;

  /** @param max_depth nesting limit; deeper documents fail to parse. */
  explicit JsonScratch(std::size_t max_depth = kDefaultMaxDepth);
  ~JsonScratch();
  JsonScratch(const JsonScratch&) = delete;
  JsonScratch& operator=(const JsonScratch&) = delete;

  /** @return the parsed document, or nullptr if `text` is not exactly one JSON value. */
  const boost::json::value* parse(std::string_view text) noexcept;

private:
  struct State;

  std::size_t max_depth_;
  std::unique_ptr<State> state_;
};

}  // namespace spendgate::core
