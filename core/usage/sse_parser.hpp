#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/memory/buffer_allowance.hpp"
#include "core/memory/buffer_grant.hpp"

namespace spendgate::core {

/** One dispatched server-sent event. Views are valid only during the Handler::onEvent call. */
struct SseEvent {
  /** The `event:` field, "" when absent (WHATWG would call it "message"). */
  std::string_view type;
  /** The `data:` lines joined by '\n', without the final '\n'. */
  std::string_view data;
  /** The last `id:` seen so far in the stream (it persists across events, per WHATWG). */
  std::string_view id;
  /** Absolute stream offset of the first byte of the event's first field line. */
  std::uint64_t raw_begin = 0;
  /** Absolute stream offset one past the blank line that dispatched the event. */
  std::uint64_t raw_end = 0;
  /**
   * The dispatching blank line ended with a CR that was the last byte fed so far. If the next
   * byte is LF it belongs to that line end too (CRLF split across reads), so a filter dropping
   * this event must drop that LF as well. A CRLF within one feed is inside [raw_begin, raw_end).
   */
  bool ends_with_cr = false;
};

/**
 * Incremental WHATWG event-stream parser
 * (https://html.spec.whatwg.org/#event-stream-interpretation).
 *
 * Feeds may split anywhere: inside a line, between CR and LF, inside the UTF-8 BOM. Lines end in
 * LF, CRLF or CR; `:` lines are comments; `data:` lines join with '\n'; one space after the colon
 * is stripped; an event is dispatched at a blank line if its data is non-empty; an unterminated
 * event at EOF is never dispatched. Memory is bounded: an event larger than the cap is discarded
 * (reported through Handler::onOverflow) up to its blank line.
 *
 * Each event reports the absolute byte range it spanned, so a filter can remove it byte-exactly.
 * Comment lines before an event's first field are not part of its range.
 */
class SseParser {
public:
  static constexpr std::size_t kDefaultMaxEventBytes = 8u << 20;

  /** Receives parse results; called synchronously from feed(). */
  class Handler {
  public:
    virtual ~Handler() = default;
    /** A complete event. */
    virtual void onEvent(const SseEvent& event) = 0;
    /** An event grew past the cap and is being discarded; `raw_begin` is where it started. */
    virtual void onOverflow(std::uint64_t raw_begin) { (void)raw_begin; }
  };

  /**
   * @param buffers what all requests together may hold past 1 MiB each (BufferGrant); an event
   *        that cannot take what it needs is discarded as one past the cap. None: the cap only.
   */
  explicit SseParser(std::size_t max_event_bytes = kDefaultMaxEventBytes,
                     BufferAllowance* buffers = nullptr);

  /** Parses the next bytes of the stream, calling `handler` for every event they complete. */
  void feed(std::string_view bytes, Handler& handler);

  /** @return total bytes fed so far. */
  std::uint64_t offset() const { return offset_; }

  /**
   * @return the offset before which every byte is settled: it belongs to an already dispatched
   * event, a comment, a blank line or a discarded event, never to the event still being read.
   */
  std::uint64_t settledOffset() const;

  /** @return true while a started event (or a partial line) is pending, i.e. EOF now would drop it.
   */
  bool hasPendingEvent() const { return settledOffset() < offset_; }

  /** @return how many events were discarded for exceeding the cap. */
  std::size_t overflowCount() const { return overflow_count_; }

private:
  void processLine(std::string_view line,
                   std::uint64_t line_begin,
                   std::uint64_t line_end,
                   bool ended_by_cr,
                   Handler& handler);
  void dispatch(std::uint64_t raw_end, bool ended_by_cr, Handler& handler);
  void startDiscarding(Handler& handler);

  /**
   * @return true when the event may hold `size` bytes (line and data so far), counted at twice
   *         that: what its two strings may reserve as they grow.
   */
  bool fits(std::size_t size) { return size <= max_event_bytes_ && grant_.cover(2 * size); }

  std::size_t max_event_bytes_;
  BufferGrant grant_;              // the event's share of the allowance
  std::uint64_t offset_ = 0;       // bytes fed so far
  std::uint64_t block_start_ = 0;  // first byte of the event being read (or of the next one)
  std::uint64_t line_start_ = 0;   // first byte of the line in line_buf_
  std::string line_buf_;           // partial line carried across feeds
  std::string data_;
  std::string type_;
  std::string last_id_;
  std::size_t bom_matched_ = 0;
  bool bom_done_ = false;
  bool skip_lf_ = false;     // the previous line ended with CR: a leading LF is part of it
  bool has_fields_ = false;  // the current block has seen a field line
  bool discarding_ = false;  // over the cap: skip to the next blank line
  bool discard_line_nonempty_ = false;  // while discarding: the current line has content
  std::size_t overflow_count_ = 0;
};

}  // namespace spendgate::core
