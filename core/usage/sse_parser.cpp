#include "core/usage/sse_parser.hpp"

namespace spendgate::core {

namespace {

constexpr char kBom[3] = {'\xEF', '\xBB', '\xBF'};

// Index of the next CR or LF at or after `from`, or npos.
std::size_t findLineEnd(std::string_view bytes, std::size_t from) {
  for (std::size_t k = from; k < bytes.size(); ++k) {
    const char c = bytes[k];
    if (c == '\n' || c == '\r') return k;
  }
  return std::string_view::npos;
}

}  // namespace

SseParser::SseParser(std::size_t max_event_bytes, BufferAllowance* buffers)
    : max_event_bytes_(max_event_bytes), grant_(buffers) {}

std::uint64_t SseParser::settledOffset() const {
  // A discarded event will never be dispatched, so its bytes are settled as they arrive.
  return discarding_ ? offset_ : block_start_;
}

void SseParser::feed(std::string_view bytes, Handler& handler) {
  const std::uint64_t base = offset_;
  const std::size_t n = bytes.size();
  std::size_t i = 0;

  if (!bom_done_) {
    // The BOM may itself be split across feeds; match it byte by byte.
    while (i < n && bom_matched_ < 3 && bytes[i] == kBom[bom_matched_]) {
      ++bom_matched_;
      ++i;
    }
    if (bom_matched_ == 3) {
      bom_done_ = true;
      block_start_ = line_start_ = base + i;
    } else if (i < n) {
      // Not a BOM after all: the bytes matched so far are ordinary line content.
      bom_done_ = true;
      line_buf_.assign(kBom, bom_matched_);
    } else {
      offset_ = base + n;
      return;
    }
  }

  while (i < n) {
    if (skip_lf_) {
      skip_lf_ = false;
      if (bytes[i] == '\n') {
        // Second half of a CRLF whose CR ended the previous line.
        const std::uint64_t pos = base + i;
        if (block_start_ == pos) block_start_ = pos + 1;
        line_start_ = pos + 1;
        ++i;
        continue;
      }
    }
    const std::size_t j = findLineEnd(bytes, i);
    if (j == std::string_view::npos) {
      const std::string_view rest = bytes.substr(i);
      if (discarding_) {
        discard_line_nonempty_ = true;
      } else if (!fits(line_buf_.size() + rest.size() + data_.size())) {
        startDiscarding(handler);
        discard_line_nonempty_ = true;
      } else {
        line_buf_.append(rest);
      }
      break;
    }

    // CRLF inside this feed is one two-byte line end. A CR that ends the feed may still be
    // followed by LF in the next one: remember that (skip_lf_) and tell the handler.
    const bool cr = bytes[j] == '\r';
    const bool crlf = cr && j + 1 < n && bytes[j + 1] == '\n';
    const bool cr_pending = cr && j + 1 == n;
    const std::size_t terminator = crlf ? 2 : 1;
    const std::uint64_t line_end = base + j + terminator;
    const std::string_view piece = bytes.substr(i, j - i);
    if (discarding_) {
      if (piece.empty() && !discard_line_nonempty_) {
        // The blank line that ends the oversized event: resume normal parsing after it.
        discarding_ = false;
        block_start_ = line_end;
        has_fields_ = false;
      }
      discard_line_nonempty_ = false;
    } else if (line_buf_.empty()) {
      processLine(piece, line_start_, line_end, cr_pending, handler);
    } else if (!fits(line_buf_.size() + piece.size() + data_.size())) {
      startDiscarding(handler);
      discard_line_nonempty_ = false;
    } else {
      line_buf_.append(piece);
      processLine(line_buf_, line_start_, line_end, cr_pending, handler);
    }
    line_buf_.clear();
    if (grant_.taken() > 0 && data_.empty()) {
      // A large event ended: its buffers go, and so does its share of the allowance.
      std::string().swap(line_buf_);
      std::string().swap(data_);
      grant_.release();
    }
    line_start_ = line_end;
    skip_lf_ = cr_pending;
    i = j + terminator;
  }
  offset_ = base + n;
}

void SseParser::processLine(std::string_view line,
                            std::uint64_t line_begin,
                            std::uint64_t line_end,
                            bool ended_by_cr,
                            Handler& handler) {
  if (line.empty()) {
    if (has_fields_ && !data_.empty()) {
      dispatch(line_end, ended_by_cr, handler);
    } else {
      // WHATWG: no data means no event, and the event type is reset too.
      data_.clear();
      type_.clear();
    }
    block_start_ = line_end;
    has_fields_ = false;
    return;
  }
  if (line.front() == ':') {
    // A comment before any field is not part of the next event's byte range.
    if (!has_fields_) block_start_ = line_end;
    return;
  }
  if (!has_fields_) {
    has_fields_ = true;
    block_start_ = line_begin;
  }

  std::string_view field = line;
  std::string_view value;
  if (const auto colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (!fits(data_.size() + value.size() + 1)) {
      startDiscarding(handler);
      return;
    }
    data_.append(value);
    data_.push_back('\n');
  } else if (field == "event") {
    type_.assign(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) last_id_.assign(value);
  }
  // `retry` and unknown fields are ignored.
}

void SseParser::dispatch(std::uint64_t raw_end, bool ended_by_cr, Handler& handler) {
  SseEvent event;
  event.type = type_;
  event.data = std::string_view(data_).substr(0, data_.size() - 1);  // drop the last '\n'
  event.id = last_id_;
  event.raw_begin = block_start_;
  event.raw_end = raw_end;
  event.ends_with_cr = ended_by_cr;
  handler.onEvent(event);
  data_.clear();
  type_.clear();
}

void SseParser::startDiscarding(Handler& handler) {
  ++overflow_count_;
  handler.onOverflow(block_start_);
  discarding_ = true;
  has_fields_ = false;
  // Give the oversized buffers back instead of keeping megabytes of capacity around.
  std::string().swap(data_);
  std::string().swap(line_buf_);
  grant_.release();
  type_.clear();
}

}  // namespace spendgate::core
