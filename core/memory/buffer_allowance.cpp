#include "core/memory/buffer_allowance.hpp"

namespace spendgate::core {

bool BufferAllowance::take(std::size_t bytes) {
  const std::size_t total = total_.load(std::memory_order_relaxed);
  std::size_t used = in_use_.load(std::memory_order_relaxed);
  do {
    // Compared as "room left" so that a huge request cannot wrap the sum around.
    if (used > total || bytes > total - used) return false;
  } while (!in_use_.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed));
  return true;
}

void BufferAllowance::giveBack(std::size_t bytes) {
  in_use_.fetch_sub(bytes, std::memory_order_relaxed);
}

}  // namespace spendgate::core
