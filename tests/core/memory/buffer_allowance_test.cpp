#include "core/memory/buffer_allowance.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "core/memory/buffer_grant.hpp"

namespace spendgate::core {
namespace {

constexpr std::size_t kMiB = 1u << 20;

TEST(BufferAllowance, TakesUpToTheTotalAndGivesBack) {
  BufferAllowance allowance(10);
  EXPECT_TRUE(allowance.take(4));
  EXPECT_TRUE(allowance.take(6));
  EXPECT_EQ(allowance.inUse(), 10u);
  EXPECT_FALSE(allowance.take(1));  // exhausted: nothing taken
  EXPECT_EQ(allowance.inUse(), 10u);
  allowance.giveBack(6);
  EXPECT_FALSE(allowance.take(7));
  EXPECT_TRUE(allowance.take(6));
  allowance.giveBack(10);
  EXPECT_EQ(allowance.inUse(), 0u);
  EXPECT_FALSE(allowance.take(SIZE_MAX));  // no wrap-around
  EXPECT_EQ(allowance.inUse(), 0u);
}

TEST(BufferAllowance, ALoweredTotalRefusesUntilEnoughIsGivenBack) {
  BufferAllowance allowance(10);
  ASSERT_TRUE(allowance.take(8));
  allowance.setTotal(5);
  EXPECT_FALSE(allowance.take(1));
  allowance.giveBack(4);
  EXPECT_TRUE(allowance.take(1));
  EXPECT_EQ(allowance.inUse(), 5u);
}

TEST(BufferAllowance, DefaultIs256MiB) { EXPECT_EQ(BufferAllowance().total(), 256 * kMiB); }

TEST(BufferGrant, TheFreePartTakesNothing) {
  BufferAllowance allowance(0);
  BufferGrant grant(&allowance);
  EXPECT_TRUE(grant.cover(0));
  EXPECT_TRUE(grant.cover(BufferGrant::kFree));
  EXPECT_EQ(grant.taken(), 0u);
  EXPECT_FALSE(grant.cover(BufferGrant::kFree + 1));  // an empty allowance
  EXPECT_EQ(allowance.inUse(), 0u);
}

TEST(BufferGrant, GrowsInStepsAndGivesAllBackOnce) {
  BufferAllowance allowance(3 * kMiB);
  {
    BufferGrant grant(&allowance);
    EXPECT_TRUE(grant.cover(BufferGrant::kFree + 1));
    EXPECT_EQ(grant.taken(), kMiB);
    EXPECT_TRUE(grant.cover(BufferGrant::kFree + kMiB));  // within the step taken
    EXPECT_EQ(allowance.inUse(), kMiB);
    EXPECT_TRUE(grant.cover(BufferGrant::kFree + 3 * kMiB));
    EXPECT_EQ(allowance.inUse(), 3 * kMiB);
    EXPECT_FALSE(grant.cover(BufferGrant::kFree + 3 * kMiB + 1));
    EXPECT_EQ(grant.taken(), 3 * kMiB);  // what it had stays taken
    grant.release();
    EXPECT_EQ(allowance.inUse(), 0u);
    EXPECT_TRUE(grant.cover(BufferGrant::kFree + 2 * kMiB));
  }
  EXPECT_EQ(allowance.inUse(), 0u);  // the destructor gave it back
}

TEST(BufferGrant, TwoGrantsShareOneAllowance) {
  BufferAllowance allowance(4 * kMiB);
  BufferGrant first(&allowance);
  BufferGrant second(&allowance);
  EXPECT_TRUE(first.cover(BufferGrant::kFree + 3 * kMiB));
  EXPECT_FALSE(second.cover(BufferGrant::kFree + 2 * kMiB));
  EXPECT_TRUE(second.cover(BufferGrant::kFree + kMiB));
  first.release();
  EXPECT_TRUE(second.cover(BufferGrant::kFree + 4 * kMiB));
  EXPECT_EQ(allowance.inUse(), 4 * kMiB);
}

TEST(BufferGrant, ReserveAppendCountsWhatTheBufferReserves) {
  BufferAllowance allowance(4 * kMiB);
  BufferGrant grant(&allowance);
  std::string buffer;
  ASSERT_TRUE(grant.reserveAppend(buffer, 512 * 1024, 16 * kMiB));  // within the free part
  buffer.append(512 * 1024, 'a');
  EXPECT_EQ(grant.taken(), 0u);
  ASSERT_TRUE(grant.reserveAppend(buffer, 600 * 1024, 16 * kMiB));  // doubled: 2 MiB reserved
  EXPECT_EQ(buffer.capacity(), 2 * kMiB);
  EXPECT_EQ(grant.taken(), kMiB);
  buffer.append(600 * 1024, 'a');
  ASSERT_TRUE(grant.reserveAppend(buffer, kMiB, 16 * kMiB));  // 4 MiB
  EXPECT_EQ(buffer.capacity(), 4 * kMiB);
  EXPECT_EQ(grant.taken(), 3 * kMiB);
  buffer.append(kMiB, 'a');
  ASSERT_TRUE(grant.reserveAppend(buffer, 2 * kMiB, 5 * kMiB));  // 8 MiB, held to `most`
  EXPECT_EQ(buffer.capacity(), 5 * kMiB);
  EXPECT_EQ(grant.taken(), 4 * kMiB);
  buffer.append(2 * kMiB, 'a');
  const std::size_t capacity = buffer.capacity();
  EXPECT_FALSE(grant.reserveAppend(buffer, kMiB, 16 * kMiB));  // nothing left
  EXPECT_EQ(buffer.capacity(), capacity);                      // untouched
  EXPECT_EQ(allowance.inUse(), 4 * kMiB);
  EXPECT_TRUE(grant.reserveAppend(buffer, 1000, 16 * kMiB));  // within its capacity
}

TEST(BufferGrant, WithoutAnAllowanceCoversAnything) {
  BufferGrant grant;
  EXPECT_TRUE(grant.cover(SIZE_MAX));
  EXPECT_EQ(grant.taken(), 0u);
}

TEST(BufferAllowance, ThreadsNeverTakeMoreThanTheTotal) {
  // Each thread takes and gives back in a loop; at no point may the sum pass the total, and at
  // the end all of it is back.
  constexpr std::size_t kTotal = 64 * kMiB;
  BufferAllowance allowance(kTotal);
  std::atomic<bool> over{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&allowance, &over, t] {
      for (int i = 0; i < 20000; ++i) {
        BufferGrant grant(&allowance);
        const std::size_t size = BufferGrant::kFree + static_cast<std::size_t>((i + t) % 17) * kMiB;
        if (grant.cover(size) && allowance.inUse() > kTotal) over = true;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_FALSE(over.load());
  EXPECT_EQ(allowance.inUse(), 0u);
}

}  // namespace
}  // namespace spendgate::core
