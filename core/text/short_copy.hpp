#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace spendgate::core {

/**
 * memcpy(to, from, n) for the short texts the request path copies most (header values, ledger
 * fields), without a call into libc: up to 32 bytes as two overlapping loads and stores of the
 * widest size that fits (each load reads only bytes of [from, from + n)), longer ones through
 * memcpy. The ranges must not overlap.
 */
inline void copyShort(char* to, const char* from, std::size_t n) {
  if (n > 32) {
    std::memcpy(to, from, n);
  } else if (n >= 16) {
    char head[16];
    char tail[16];
    std::memcpy(head, from, 16);
    std::memcpy(tail, from + n - 16, 16);
    std::memcpy(to, head, 16);
    std::memcpy(to + n - 16, tail, 16);
  } else if (n >= 8) {
    std::uint64_t head;
    std::uint64_t tail;
    std::memcpy(&head, from, 8);
    std::memcpy(&tail, from + n - 8, 8);
    std::memcpy(to, &head, 8);
    std::memcpy(to + n - 8, &tail, 8);
  } else if (n >= 4) {
    std::uint32_t head;
    std::uint32_t tail;
    std::memcpy(&head, from, 4);
    std::memcpy(&tail, from + n - 4, 4);
    std::memcpy(to, &head, 4);
    std::memcpy(to + n - 4, &tail, 4);
  } else if (n != 0) {
    // 1 to 3 bytes: the first, the middle (n / 2) and the last (some the same byte).
    const char first = from[0];
    const char middle = from[n / 2];
    const char last = from[n - 1];
    to[0] = first;
    to[n / 2] = middle;
    to[n - 1] = last;
  }
}

}  // namespace spendgate::core
