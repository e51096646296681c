#include "core/memory/buffer_grant.hpp"

#include <algorithm>
#include <cstdint>

namespace spendgate::core {

void BufferGrant::use(BufferAllowance* allowance) {
  release();
  allowance_ = allowance;
}

bool BufferGrant::grow(std::size_t size) {
  // Round up to whole steps beyond the free part.
  const std::size_t beyond = size - kFree;
  if (beyond > SIZE_MAX - kStep) return false;
  const std::size_t wanted = (beyond + kStep - 1) / kStep * kStep;
  if (!allowance_->take(wanted - taken_)) return false;
  taken_ = wanted;
  return true;
}

bool BufferGrant::growBuffer(std::string& buffer, std::size_t size, std::size_t most) {
  const std::size_t doubled = std::max(size, 2 * buffer.capacity());
  std::size_t capacity = (doubled + kStep - 1) / kStep * kStep;
  capacity = std::min(capacity, std::max(size, most));
  if (!cover(capacity)) return false;
  reserveExactly(buffer, capacity);
  return true;
}

void BufferGrant::reserveExactly(std::string& buffer, std::size_t capacity) {
  if (capacity <= buffer.capacity()) return;
  // std::string::reserve may double instead (libstdc++ does below twice the old capacity); a
  // new string reserved from empty gets what it asks for.
  std::string grown;
  grown.reserve(capacity);
  grown.append(buffer);
  buffer.swap(grown);
}

void BufferGrant::giveBackAll() {
  allowance_->giveBack(taken_);
  taken_ = 0;
}

}  // namespace spendgate::core
