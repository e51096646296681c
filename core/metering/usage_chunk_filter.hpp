#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/usage/json_scratch.hpp"
#include "core/usage/sse_parser.hpp"

namespace spendgate::core {

/**
 * Removes the usage chunk that injectIncludeUsage() made the upstream add, so the client receives
 * byte-for-byte the stream it would have received without the injection.
 *
 * Fed the raw (de-chunked, decoded) SSE bytes from upstream, it appends to the caller's buffer
 * every byte except those of the usage event: an event whose JSON has `choices` == [] AND a
 * non-null `usage` (Azure's first chunk also has `choices: []`, but no usage, and is kept). The
 * event's field lines and its terminating blank line go; comments before it stay. With
 * include_usage on, OpenAI also adds `"usage":null` to every other chunk; that member (compact
 * form `,"usage":null` or `"usage":null,`) is cut from the kept events' `data:` lines too. It
 * can only be a member there: inside JSON strings a quote is always escaped.
 *
 * Only the bytes of the event still being received are held back; every complete event is
 * released in the same feed() call. No allocation in the steady state (buffers keep their
 * capacity). Feed the same bytes, unmodified, to a UsageExtractor to meter the response.
 */
class UsageChunkFilter {
public:
  /**
   * The most of one event held back before it is passed on undecided. An injected usage chunk is
   * a few hundred bytes; a longer event is forwarded as it comes (with any `"usage":null` member
   * left in), so a relay never reads more than this ahead of its client.
   */
  static constexpr std::size_t kDefaultMaxHeldEvent = 256 * 1024;

  explicit UsageChunkFilter(std::size_t max_event_bytes = kDefaultMaxHeldEvent);

  /** Consumes upstream bytes and appends the bytes to forward to `out`. */
  void feed(std::string_view upstream_bytes, std::string& out);

  /**
   * End of the upstream body: appends the held-back tail (an unterminated event is forwarded
   * unchanged, as the client would have got it).
   */
  void finish(std::string& out);

  /** @return how many usage events were removed. */
  std::size_t droppedEvents() const { return dropped_events_; }
  /** @return bytes currently held back. */
  std::size_t heldBytes() const { return static_cast<std::size_t>(end_ - emitted_); }

  /** @return true if an event's data is an injected usage chunk. */
  static bool isUsageChunk(std::string_view data, JsonScratch& json);

private:
  class Sink final : public SseParser::Handler {
  public:
    explicit Sink(UsageChunkFilter& owner) : owner_(owner) {}
    void onEvent(const SseEvent& event) override { owner_.onEvent(event); }

  private:
    UsageChunkFilter& owner_;
  };

  void onEvent(const SseEvent& event);
  // Appends the undecided bytes up to absolute offset `to` to *out_.
  void emitUpTo(std::uint64_t to);
  char byteAt(std::uint64_t offset) const;
  // Cuts the chunk's `"usage":null` member out of a kept event.
  void stripNullUsage(const SseEvent& event);

  SseParser parser_;
  JsonScratch json_;
  std::string held_;  // undecided bytes [held_begin_, chunk_begin_)
  std::uint64_t held_begin_ = 0;
  std::string_view chunk_;  // the feed() argument, [chunk_begin_, end_)
  std::uint64_t chunk_begin_ = 0;
  std::uint64_t end_ = 0;
  std::uint64_t emitted_ = 0;                // every byte before this was forwarded or dropped
  std::optional<std::uint64_t> skip_lf_at_;  // drop a LF here: it ends a dropped event's CR
  std::string* out_ = nullptr;
  std::string scratch_;  // a kept event's raw bytes, to locate "usage":null
  std::size_t dropped_events_ = 0;
};

}  // namespace spendgate::core
