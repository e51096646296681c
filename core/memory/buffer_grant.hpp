#pragma once

#include <algorithm>
#include <cstddef>
#include <string>

#include "core/memory/buffer_allowance.hpp"

namespace spendgate::core {

/**
 * One buffer's share of a BufferAllowance. The first kFree bytes are the buffer's own and touch
 * no shared state (an ordinary answer never reaches them); beyond that the buffer takes from the
 * allowance in kStep steps as it grows, and gives all of it back on release() or destruction.
 * A grant without an allowance (default) covers any size. Not thread-safe: one buffer, one owner.
 */
class BufferGrant {
public:
  /** Bytes every buffer may hold without the allowance. */
  static constexpr std::size_t kFree = 1u << 20;
  /** Growth beyond kFree is taken in steps of this, so a growing buffer rarely touches it. */
  static constexpr std::size_t kStep = 1u << 20;

  BufferGrant() = default;
  explicit BufferGrant(BufferAllowance* allowance) : allowance_(allowance) {}
  ~BufferGrant() { release(); }
  BufferGrant(const BufferGrant&) = delete;
  BufferGrant& operator=(const BufferGrant&) = delete;

  /** Points an empty grant (nothing taken) at an allowance. */
  void use(BufferAllowance* allowance);

  /**
   * @return true when the buffer may hold `size` bytes, taking what that needs beyond what it
   *         holds; false when the allowance has no room left (what was taken stays taken).
   */
  [[nodiscard]] bool cover(std::size_t size) {
    return size <= kFree + taken_ || allowance_ == nullptr || grow(size);
  }

  /**
   * Makes room in `buffer` for `adding` more bytes. Past kFree it grows the buffer itself, to
   * twice its capacity rounded up to whole kSteps (at most `most`, unless more is needed), and
   * covers that capacity: what the buffer holds, not just its size.
   * @return false, the buffer untouched, when the allowance has no room for it.
   */
  [[nodiscard]] bool reserveAppend(std::string& buffer, std::size_t adding, std::size_t most) {
    const std::size_t size = buffer.size() + adding;
    // Within its capacity, or growing within the free part: nothing to count.
    if (size <= buffer.capacity() || std::max(size, 2 * buffer.capacity()) <= kFree) return true;
    return growBuffer(buffer, size, most);
  }

  /** Grows `buffer` to exactly `capacity` (std::string::reserve may reserve more). */
  static void reserveExactly(std::string& buffer, std::size_t capacity);

  /** Gives everything taken back (the buffer was freed or shrunk to kFree or less). */
  void release() {
    if (taken_ != 0) giveBackAll();
  }

  /** @return bytes taken from the allowance and not given back. */
  std::size_t taken() const { return taken_; }

private:
  bool grow(std::size_t size);
  bool growBuffer(std::string& buffer, std::size_t size, std::size_t most);
  void giveBackAll();

  BufferAllowance* allowance_ = nullptr;
  std::size_t taken_ = 0;
};

}  // namespace spendgate::core
