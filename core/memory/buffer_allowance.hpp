#pragma once

#include <atomic>
#include <cstddef>

namespace spendgate::core {

/**
 * The bytes all requests together may hold in large buffers (a held answer, the JSON metering
 * copy, an SSE event being read) beyond what each buffer gets for free (BufferGrant). Each
 * buffer's cap bounds one request; this bounds them all, so many large answers at once cannot
 * exhaust the process's memory. Shared by every worker thread: lock-free and thread-safe.
 *
 * A request that cannot take more degrades as it does past its own buffer's cap.
 */
class BufferAllowance {
public:
  /** 256 MiB: about 16 answers at the 16 MiB hold limit at once. */
  static constexpr std::size_t kDefaultTotal = 256u << 20;

  explicit BufferAllowance(std::size_t total = kDefaultTotal) : total_(total) {}
  BufferAllowance(const BufferAllowance&) = delete;
  BufferAllowance& operator=(const BufferAllowance&) = delete;

  /** @return true when `bytes` were taken; false (nothing taken) when that would pass the total. */
  [[nodiscard]] bool take(std::size_t bytes);
  /**
   * Counts `bytes` even past the total: for memory a request cannot do without once it has
   * begun (a brotli decoder's blocks: its output is the body the client gets), whose size is
   * bounded elsewhere. take() then refuses until enough is given back.
   */
  void takeAnyway(std::size_t bytes) { in_use_.fetch_add(bytes, std::memory_order_relaxed); }
  /** Gives back bytes a take() or takeAnyway() got. */
  void giveBack(std::size_t bytes);

  /**
   * A new total (a reload). Bytes already taken stay taken: past a lowered total, takes fail
   * until enough is given back.
   */
  void setTotal(std::size_t total) { total_.store(total, std::memory_order_relaxed); }
  std::size_t total() const { return total_.load(std::memory_order_relaxed); }
  /** @return bytes taken and not given back. */
  std::size_t inUse() const { return in_use_.load(std::memory_order_relaxed); }

private:
  std::atomic<std::size_t> total_;
  std::atomic<std::size_t> in_use_{0};
};

}  // namespace spendgate::core
