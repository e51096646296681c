#include "core/usage/sse_parser.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/memory/buffer_allowance.hpp"
#include "tests/core/usage_test_util.hpp"

namespace spendgate::core {
namespace {

struct Seen {
  std::string type;
  std::string data;
  std::string id;
  std::string raw;  // the stream bytes [raw_begin, raw_end)
  bool ends_with_cr = false;
  friend bool operator==(const Seen&, const Seen&) = default;
};

std::ostream& operator<<(std::ostream& os, const Seen& s) {
  return os << "{type=" << s.type << " data=" << s.data << " id=" << s.id << " raw=" << s.raw
            << "}";
}

class Recorder final : public SseParser::Handler {
public:
  explicit Recorder(std::string_view stream) : stream_(stream) {}
  void onEvent(const SseEvent& e) override {
    std::uint64_t end = e.raw_end;
    // A CR that ended a feed: the LF after it (if any) still belongs to the event.
    if (e.ends_with_cr && end < stream_.size() && stream_[end] == '\n') ++end;
    events.push_back({std::string(e.type), std::string(e.data), std::string(e.id),
                      std::string(stream_.substr(e.raw_begin, end - e.raw_begin)), false});
  }
  void onOverflow(std::uint64_t begin) override { overflows.push_back(begin); }
  std::vector<Seen> events;
  std::vector<std::uint64_t> overflows;

private:
  std::string_view stream_;
};

std::vector<Seen> parseAll(std::string_view stream, std::size_t cut = std::string::npos) {
  SseParser parser;
  Recorder recorder(stream);
  if (cut == std::string::npos) {
    parser.feed(stream, recorder);
  } else {
    parser.feed(stream.substr(0, cut), recorder);
    parser.feed(stream.substr(cut), recorder);
  }
  return recorder.events;
}

TEST(SseParser, ParsesFieldsCommentsAndSeveralEventsPerFeed) {
  const std::string stream =
      ": keep-alive\n"
      "event: message_start\n"
      "id: 7\n"
      "data: {\"a\":1}\n"
      "\n"
      "data:  two spaces\n"
      "data:no space\n"
      "data\n"
      "retry: 100\n"
      "\n";
  const auto events = parseAll(stream);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0], (Seen{"message_start", "{\"a\":1}", "7",
                             "event: message_start\nid: 7\ndata: {\"a\":1}\n\n", false}));
  // One leading space is stripped, not two; "data" without a colon is an empty data line.
  EXPECT_EQ(events[1].data, " two spaces\nno space\n");
  EXPECT_EQ(events[1].type, "");
  EXPECT_EQ(events[1].id, "7");  // the last event id persists
}

TEST(SseParser, BlankLineWithoutDataDispatchesNothingAndResetsType) {
  const auto events = parseAll("event: ping\n\ndata: x\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, "");
  EXPECT_EQ(events[0].data, "x");
  EXPECT_EQ(events[0].raw, "data: x\n\n");
}

TEST(SseParser, CommentsBeforeAnEventAreOutsideItsRange) {
  const auto events = parseAll(": OPENROUTER PROCESSING\n\n: more\ndata: a\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].raw, "data: a\n\n");
}

TEST(SseParser, SameEventsForLfCrlfAndCrAtEverySplitPoint) {
  const std::string lf =
      "\xEF\xBB\xBF"
      "event: a\ndata: 1\ndata: 2\n\n: c\n\ndata: {\"x\":\"y\"}\n\nid: 9\ndata: last\n\n";
  for (const std::string_view end : {"\n", "\r\n", "\r"}) {
    const std::string stream = testing::withLineEnds(lf, end);
    const auto whole = parseAll(stream);
    ASSERT_EQ(whole.size(), 3u) << "line end "
                                << (end == "\n"   ? "LF"
                                    : end == "\r" ? "CR"
                                                  : "CRLF");
    EXPECT_EQ(whole[0].type, "a");
    EXPECT_EQ(whole[0].data, "1\n2");
    EXPECT_EQ(whole[1].data, "{\"x\":\"y\"}");
    EXPECT_EQ(whole[2].data, "last");
    EXPECT_EQ(whole[2].id, "9");
    EXPECT_EQ(whole[0].raw, testing::withLineEnds("event: a\ndata: 1\ndata: 2\n\n", end));
    for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
      ASSERT_EQ(parseAll(stream, cut), whole) << "cut at " << cut;
    }
  }
}

TEST(SseParser, CrAtEndOfFeedAndLfAtStartOfNextAreOneLineEnd) {
  SseParser parser;
  const std::string stream = "data: a\r\ndata: b\r\n\r\n";
  Recorder recorder(stream);
  parser.feed("data: a\r", recorder);
  parser.feed("\ndata: b\r\n\r\n", recorder);
  // Had the LF counted as a second (blank) line, "a" and "b" would be two events.
  ASSERT_EQ(recorder.events.size(), 1u);
  EXPECT_EQ(recorder.events[0].data, "a\nb");
}

TEST(SseParser, EveryByteFedSeparately) {
  const std::string stream = "data: h\xC3\xA9llo\r\n\r\ndata: [DONE]\r\n\r\n";
  SseParser parser;
  Recorder recorder(stream);
  for (const char c : stream) parser.feed(std::string_view(&c, 1), recorder);
  ASSERT_EQ(recorder.events.size(), 2u);
  EXPECT_EQ(recorder.events[0].data, "h\xC3\xA9llo");
  EXPECT_EQ(recorder.events[0].raw, "data: h\xC3\xA9llo\r\n\r\n");
  EXPECT_EQ(recorder.events[1].data, "[DONE]");
}

TEST(SseParser, BomOnlyAtTheVeryStart) {
  const std::string stream =
      "\xEF\xBB\xBF"
      "data: a\n\n\xEF\xBB\xBF"
      "data: b\n\n";
  const auto events = parseAll(stream);
  ASSERT_EQ(events.size(), 1u);  // the second BOM makes "\xEF\xBB\xBFdata" an unknown field
  EXPECT_EQ(events[0].data, "a");
  EXPECT_EQ(events[0].raw, "data: a\n\n");
  // A partial BOM that turns out not to be one is line content.
  const auto not_bom = parseAll(
      "\xEF"
      "data: a\n\ndata: b\n\n");
  ASSERT_EQ(not_bom.size(), 1u);
  EXPECT_EQ(not_bom[0].data, "b");
}

TEST(SseParser, UnterminatedEventAtEofIsNotDispatched) {
  SseParser parser;
  const std::string stream = "data: a\n\ndata: b\n";
  Recorder recorder(stream);
  parser.feed(stream, recorder);
  ASSERT_EQ(recorder.events.size(), 1u);
  EXPECT_TRUE(parser.hasPendingEvent());
  EXPECT_EQ(parser.settledOffset(), 9u);  // after "data: a\n\n"
}

TEST(SseParser, OversizedEventIsDiscardedAndParsingResumes) {
  SseParser parser(64);
  const std::string big(100, 'x');
  const std::string stream = "data: ok\n\ndata: " + big + "\ndata: more\n\ndata: after\n\n";
  Recorder recorder(stream);
  for (std::size_t i = 0; i < stream.size(); i += 7) {
    parser.feed(std::string_view(stream).substr(i, 7), recorder);
  }
  ASSERT_EQ(recorder.events.size(), 2u);
  EXPECT_EQ(recorder.events[0].data, "ok");
  EXPECT_EQ(recorder.events[1].data, "after");
  ASSERT_EQ(recorder.overflows.size(), 1u);
  EXPECT_EQ(recorder.overflows[0], 10u);
  EXPECT_EQ(parser.overflowCount(), 1u);
}

TEST(SseParser, FlagsACrThatEndsTheFeed) {
  class Flags final : public SseParser::Handler {
  public:
    void onEvent(const SseEvent& e) override { flags.push_back(e.ends_with_cr); }
    std::vector<bool> flags;
  } flags;
  SseParser parser;
  parser.feed("data: a\r\rdata: b\r\n\r\ndata: c\r\r", flags);
  // Only the last CR might still be followed by LF.
  EXPECT_EQ(flags.flags, (std::vector<bool>{false, false, true}));
}

TEST(SseParser, AnEventPastItsFreeMiBNeedsTheAllowance) {
  // Two streams share a 3 MiB allowance: an event of almost 2 MiB, counted at twice its size,
  // fits (1 MiB free + 3 MiB taken); a second one at the same time does not and is discarded as
  // one past the cap, and what an event took is given back once it ends.
  BufferAllowance allowance(3u << 20);
  const std::size_t size = (2u << 20) - 100;
  const std::string big = "data: " + std::string(size, 'x') + "\n\n";
  const std::string stream = big + "data: after\n\n";
  SseParser first(8u << 20, &allowance);
  SseParser second(8u << 20, &allowance);
  Recorder one(stream);
  Recorder two(stream);
  const std::string_view head = std::string_view(stream).substr(0, big.size() - 2);
  first.feed(head, one);
  EXPECT_EQ(allowance.inUse(), 3u << 20);
  second.feed(stream, two);
  EXPECT_EQ(two.overflows.size(), 1u);
  ASSERT_EQ(two.events.size(), 1u);
  EXPECT_EQ(two.events[0].data, "after");
  first.feed(std::string_view(stream).substr(head.size()), one);
  ASSERT_EQ(one.events.size(), 2u);
  EXPECT_EQ(one.events[0].data.size(), size);
  EXPECT_TRUE(one.overflows.empty());
  EXPECT_EQ(allowance.inUse(), 0u);
}

}  // namespace
}  // namespace spendgate::core
