// SseParser (core/usage/sse_parser.hpp): the upstream's text/event-stream bytes, split anywhere.
// Input: 1 option byte, 7 chunk-size bytes (fuzz_support.hpp), then the stream.
// Invariants: events lie inside the bytes fed, in order, after settled bytes; with the default
// cap a stream fed in pieces gives exactly the events of one feed. (A CRLF split between feeds
// ends the event at the CR with ends_with_cr set, as documented: the LF then counts as its end.)

#include <cstdint>
#include <string>
#include <vector>

#include "core/usage/sse_parser.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace {

using spendgate::core::SseEvent;
using spendgate::core::SseParser;

struct Seen {
  std::string type, data, id;
  std::uint64_t raw_begin, raw_end;
  friend bool operator==(const Seen&, const Seen&) = default;
};

class Recorder final : public SseParser::Handler {
public:
  Recorder(const SseParser& parser, std::string_view stream) : parser_(parser), stream_(stream) {}
  void onEvent(const SseEvent& e) override {
    FUZZ_CHECK(e.raw_begin < e.raw_end);
    FUZZ_CHECK(events.empty() || events.back().raw_end <= e.raw_begin);
    FUZZ_CHECK(parser_.settledOffset() <= e.raw_begin);  // the event was still pending
    last_raw_end = e.raw_end;
    std::uint64_t end = e.raw_end;
    if (e.ends_with_cr) {
      FUZZ_CHECK(stream_[end - 1] == '\r');  // the CR was the last byte fed so far
      if (end < stream_.size() && stream_[end] == '\n') ++end;  // the rest of the CRLF
    }
    events.push_back(
        {std::string(e.type), std::string(e.data), std::string(e.id), e.raw_begin, end});
  }
  void onOverflow(std::uint64_t raw_begin) override {
    FUZZ_CHECK(events.empty() || events.back().raw_end <= raw_begin);
    ++overflows;
  }
  std::vector<Seen> events;
  std::size_t overflows = 0;
  std::uint64_t last_raw_end = 0;  // as reported, before the CRLF adjustment

private:
  const SseParser& parser_;
  std::string_view stream_;
};

std::vector<Seen> parse(const std::vector<std::string_view>& pieces,
                        std::size_t cap,
                        std::string_view stream) {
  SseParser parser(cap);
  Recorder recorder(parser, stream);
  std::uint64_t fed = 0;
  for (const std::string_view piece : pieces) {
    parser.feed(piece, recorder);
    fed += piece.size();
    FUZZ_CHECK(parser.offset() == fed);
    FUZZ_CHECK(parser.settledOffset() <= parser.offset());
    FUZZ_CHECK(recorder.last_raw_end <= fed);
  }
  FUZZ_CHECK(fed == stream.size());
  FUZZ_CHECK(parser.overflowCount() == recorder.overflows);
  return recorder.events;
}

}  // namespace

SPENDGATE_FUZZ_TARGET(sse_parser) {
  spendgate::fuzz::Input in(data, size);
  const std::uint8_t options = in.byte();
  const std::string_view cuts = in.take(spendgate::fuzz::kCutBytes);
  const std::string_view stream = in.rest();
  // Odd option bytes use a tiny cap (1..128 bytes) so the overflow path runs too.
  const bool small_cap = (options & 1) != 0;
  const std::size_t cap = small_cap ? 1 + (options >> 1) : SseParser::kDefaultMaxEventBytes;

  const auto whole = parse({stream}, cap, stream);
  const auto pieces = parse(spendgate::fuzz::chunks(stream, cuts), cap, stream);
  // Below the cap, where a line is split does not matter. (A split line is measured against the
  // cap before it is complete, so near a tiny cap the two may discard differently.)
  if (!small_cap) FUZZ_CHECK(whole == pieces);
  return 0;
}
