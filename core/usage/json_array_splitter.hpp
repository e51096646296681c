#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/memory/buffer_allowance.hpp"
#include "core/memory/buffer_grant.hpp"

namespace spendgate::core {

/**
 * Splits an incrementally received JSON array (`[{...},\r\n{...}\r\n]`, Gemini's
 * streamGenerateContent without alt=sse) into its elements as each one completes, so usage can be
 * read before the array closes and an interrupted stream still yields the elements seen.
 *
 * A top-level object instead of an array (an error body) is reported as a single element. Only
 * the current element is buffered, capped at `max_element_bytes` (bigger ones are skipped), and
 * past its free MiB counted in `buffers` (BufferGrant): an element that cannot take what it needs
 * is skipped as one past the cap. Elements are not validated; the caller parses them.
 */
class JsonArraySplitter {
public:
  /** Receives each complete element. */
  class Handler {
  public:
    virtual ~Handler() = default;
    virtual void onElement(std::string_view json) = 0;
  };

  /**
   * @param buffers what all requests together may hold past 1 MiB each; none: the cap only
   */
  explicit JsonArraySplitter(std::size_t max_element_bytes = 8u << 20,
                             BufferAllowance* buffers = nullptr)
      : max_element_bytes_(max_element_bytes), grant_(buffers) {}

  void feed(std::string_view bytes, Handler& handler);

  /** @return true once the top-level array (or object) has closed. */
  bool closed() const { return closed_; }
  /** @return true if the input was not an array/object of objects. */
  bool malformed() const { return malformed_; }
  /** @return how many elements were skipped for exceeding the cap or the allowance. */
  std::size_t skippedElements() const { return skipped_; }

private:
  void append(std::string_view piece);
  /** Frees the element's buffer and its share of the allowance, once that share is not 0. */
  void dropLargeElement();

  std::size_t max_element_bytes_;
  BufferGrant grant_;  // the current element's share of the allowance
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
