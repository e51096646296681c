#pragma once

#include <cstddef>
#include <cstring>
#include <string_view>

namespace spendgate::core {

/**
 * An object key as a Boost.JSON SAX handler gets it: whole in on_key, or in pieces (on_key_part
 * calls, then on_key with the last piece) when it spans input buffers. The one-pass scanners only
 * look for short keys, so a key longer than kMaxKey is kept as "" and matches nothing (keyIs,
 * below, compares one with a literal).
 */
class JsonKeyAssembler {
public:
  static constexpr std::size_t kMaxKey = 32;

  /** on_key_part: one piece of a key that goes on. */
  void part(std::string_view piece) {
    if (overflow_ || size_ + piece.size() > kMaxKey) {
      overflow_ = true;
      return;
    }
    std::memcpy(buffer_ + size_, piece.data(), piece.size());
    size_ += piece.size();
  }

  /** on_key: @return the whole key, given its last piece; valid until the next part() call. */
  std::string_view finish(std::string_view last) {
    if (size_ == 0 && !overflow_) return last;  // came whole
    part(last);
    const std::string_view key = overflow_ ? std::string_view() : std::string_view(buffer_, size_);
    size_ = 0;
    overflow_ = false;
    return key;
  }

private:
  char buffer_[kMaxKey];
  std::size_t size_ = 0;
  bool overflow_ = false;
};

/** key == literal, the comparison inlined (the literal's length is known). */
template <std::size_t N>
bool keyIs(std::string_view key, const char (&literal)[N]) {
  return key.size() == N - 1 && std::memcmp(key.data(), literal, N - 1) == 0;
}

}  // namespace spendgate::core
