// JsonArraySplitter (core/usage/json_array_splitter.hpp): Gemini's streamGenerateContent answer
// without alt=sse, a JSON array arriving in pieces.
// Input: 1 option byte, 7 chunk-size bytes (fuzz_support.hpp), then the body.
// Invariants: elements, closed(), malformed() and skippedElements() do not depend on the split;
// every element starts with '{' and fits the cap.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/usage/json_array_splitter.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace {

using spendgate::core::JsonArraySplitter;

struct Split final : JsonArraySplitter::Handler {
  explicit Split(std::size_t cap) : cap(cap) {}
  void onElement(std::string_view json) override {
    FUZZ_CHECK(!json.empty() && json.front() == '{');
    FUZZ_CHECK(json.size() <= cap);
    elements.emplace_back(json);
  }
  std::size_t cap;
  std::vector<std::string> elements;
  bool closed = false, malformed = false;
  std::size_t skipped = 0;
  friend bool operator==(const Split& a, const Split& b) {
    return a.elements == b.elements && a.closed == b.closed && a.malformed == b.malformed &&
           a.skipped == b.skipped;
  }
};

Split split(const std::vector<std::string_view>& pieces, std::size_t cap) {
  JsonArraySplitter splitter(cap);
  Split result(cap);
  for (const std::string_view piece : pieces) splitter.feed(piece, result);
  result.closed = splitter.closed();
  result.malformed = splitter.malformed();
  result.skipped = splitter.skippedElements();
  FUZZ_CHECK(!(result.closed && result.malformed));
  return result;
}

}  // namespace

SPENDGATE_FUZZ_TARGET(json_array_splitter) {
  spendgate::fuzz::Input in(data, size);
  const std::uint8_t options = in.byte();
  const std::string_view cuts = in.take(spendgate::fuzz::kCutBytes);
  const std::string_view body = in.rest();
  const std::size_t cap = (options & 1) != 0 ? 1 + (options >> 1) : 8u << 20;
  FUZZ_CHECK(split({body}, cap) == split(spendgate::fuzz::chunks(body, cuts), cap));
  return 0;
}
