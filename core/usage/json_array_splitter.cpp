#include "core/usage/json_array_splitter.hpp"

namespace spendgate::core {

namespace {

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

}  // namespace

void JsonArraySplitter::append(std::string_view piece) {
  if (oversized_) return;
  // Counted at twice its size, as SseParser counts an event: what the string may reserve as it
  // grows.
  const std::size_t size = element_.size() + piece.size();
  if (size > max_element_bytes_ || !grant_.cover(2 * size)) {
    oversized_ = true;
    std::string().swap(element_);
    grant_.release();
    return;
  }
  element_.append(piece);
}

void JsonArraySplitter::dropLargeElement() {
  if (grant_.taken() == 0) return;
  std::string().swap(element_);
  grant_.release();
}

void JsonArraySplitter::feed(std::string_view bytes, Handler& handler) {
  std::size_t i = 0;
  const std::size_t n = bytes.size();
  while (i < n && !closed_ && !malformed_) {
    if (!in_element_) {
      const char c = bytes[i];
      if (isSpace(c) || (started_ && c == ',')) {
        ++i;
        continue;
      }
      if (!started_) {
        started_ = true;
        if (c == '[') {
          top_is_array_ = true;
          ++i;
          continue;
        }
        if (c != '{') {
          malformed_ = true;
          return;
        }
      } else if (c == ']') {
        closed_ = true;
        return;
      } else if (c != '{') {
        malformed_ = true;
        return;
      }
      in_element_ = true;
      depth_ = 0;
      oversized_ = false;
      element_.clear();
    }

    // Scan the element, appending whole runs rather than single bytes.
    const std::size_t run_start = i;
    bool complete = false;
    for (; i < n; ++i) {
      const char c = bytes[i];
      if (in_string_) {
        if (escape_) {
          escape_ = false;
        } else if (c == '\\') {
          escape_ = true;
        } else if (c == '"') {
          in_string_ = false;
        }
        continue;
      }
      if (c == '"') {
        in_string_ = true;
      } else if (c == '{' || c == '[') {
        ++depth_;
      } else if (c == '}' || c == ']') {
        if (--depth_ == 0) {
          ++i;
          complete = true;
          break;
        }
      }
    }
    append(bytes.substr(run_start, i - run_start));
    if (complete) {
      in_element_ = false;
      if (oversized_) {
        ++skipped_;
      } else {
        handler.onElement(element_);
      }
      element_.clear();
      // A large element ended: its buffer goes, and so does its share of the allowance.
      dropLargeElement();
      if (!top_is_array_) closed_ = true;
    }
  }
}

}  // namespace spendgate::core
