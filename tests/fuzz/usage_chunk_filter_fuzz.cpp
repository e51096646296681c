// UsageChunkFilter (core/metering/usage_chunk_filter.hpp): the upstream's SSE bytes after the
// proxy injected include_usage, split anywhere, on their way to the client.
// Input: 1 option byte, 7 chunk-size bytes (fuzz_support.hpp), then the stream.
// Invariants: the client gets the same bytes wherever the upstream's reads were split; they are
// the upstream's bytes minus some (a subsequence, never more); a stream that never says "usage"
// passes unchanged; held-back bytes never exceed what was fed.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/metering/usage_chunk_filter.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace {

using spendgate::core::SseParser;
using spendgate::core::UsageChunkFilter;

struct Filtered {
  std::string out;
  std::size_t dropped = 0;
};

Filtered filter(const std::vector<std::string_view>& pieces, std::size_t cap) {
  UsageChunkFilter f(cap);
  Filtered result;
  std::size_t fed = 0;
  for (const std::string_view piece : pieces) {
    f.feed(piece, result.out);
    fed += piece.size();
    FUZZ_CHECK(f.heldBytes() <= fed);
    FUZZ_CHECK(result.out.size() + f.heldBytes() <= fed);
  }
  f.finish(result.out);
  FUZZ_CHECK(f.heldBytes() == 0);
  result.dropped = f.droppedEvents();
  return result;
}

bool isSubsequence(std::string_view small, std::string_view big) {
  std::size_t j = 0;
  for (std::size_t i = 0; i < big.size() && j < small.size(); ++i) {
    if (big[i] == small[j]) ++j;
  }
  return j == small.size();
}

}  // namespace

SPENDGATE_FUZZ_TARGET(usage_chunk_filter) {
  spendgate::fuzz::Input in(data, size);
  const std::uint8_t options = in.byte();
  const std::string_view cuts = in.take(spendgate::fuzz::kCutBytes);
  const std::string_view stream = in.rest();
  const bool small_cap = (options & 1) != 0;
  const std::size_t cap = small_cap ? 1 + (options >> 1) : SseParser::kDefaultMaxEventBytes;

  const Filtered whole = filter({stream}, cap);
  const Filtered pieces = filter(spendgate::fuzz::chunks(stream, cuts), cap);
  if (!small_cap) {
    FUZZ_CHECK(whole.out == pieces.out);
    FUZZ_CHECK(whole.dropped == pieces.dropped);
  }
  for (const Filtered* f : {&whole, &pieces}) {
    FUZZ_CHECK(f->out.size() <= stream.size());
    FUZZ_CHECK(isSubsequence(f->out, stream));
    if (stream.find("usage") == std::string_view::npos) {
      FUZZ_CHECK(f->out == stream);
      FUZZ_CHECK(f->dropped == 0);
    }
  }
  return 0;
}
