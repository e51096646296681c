#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace spendgate::core {

/**
 * Splits an incrementally received JSON array (`[{...},\r\n{...}\r\n]`, Gemini's
 * streamGenerateContent without alt=sse) into its elements as each one completes, so usage can be
 * read before the array closes and an interrupted stream still yields the elements seen.
 *
 * A top-level object instead of an array (an error body) is reported as a single element. Only
 * the current element is buffered, capped at `max_element_bytes` (bigger ones are skipped).
 * Elements are not validated; the caller parses them.
 */
class JsonArraySplitter {
public:
  /** Receives each complete element. */
  class Handler {
  public:
    virtual ~Handler() = default;
    virtual void onElement(std::string_view json) = 0;
  };

  explicit JsonArraySplitter(std::size_t max_element_bytes = 8u << 20)
      : max_element_bytes_(max_element_bytes) {}

  void feed(std::string_view bytes, Handler& handler);

  /** @return true once the top-level array (or object) has closed. */
  bool closed() const { return closed_; }
  /** @return true if the input was not an array/object of objects. */
  bool malformed() const { return malformed_; }
  /** @return how many elements were skipped for exceeding the cap. */
  std::size_t skippedElements() const { return skipped_; }

private:
  void append(std::string_view piece);

  std::size_t max_element_bytes_;
  std::string element_;
  std::size_t depth_ = 0;  // nesting inside the current element
  bool started_ = false;
  bool top_is_array_ = false;
  bool in_element_ = false;
  bool in_string_ = false;
  bool escape_ = false;
  bool oversized_ = false;
  bool closed_ = false;
  bool malformed_ = false;
  std::size_t skipped_ = 0;
};

}  // namespace spendgate::core
