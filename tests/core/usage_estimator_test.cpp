#include "core/usage/usage_estimator.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace spendgate::core {
namespace {

/** The byte-wise count codePoints replaced (eight bytes at a time now): the same for any bytes. */
std::int64_t byteWise(std::string_view utf8) {
  std::int64_t code_points = 0;
  for (const char c : utf8) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++code_points;
  }
  return code_points;
}

TEST(UsageEstimatorTest, CodePointsOfUtf8) {
  EXPECT_EQ(UsageEstimator::codePoints(""), 0);
  EXPECT_EQ(UsageEstimator::codePoints("Hello! How can I help you today?"), 32);
  // é (2 bytes), € (3), 😀 (4), 中 (3): 1 + 1 + 1 + 1 code points.
  EXPECT_EQ(UsageEstimator::codePoints("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xe4\xb8\xad"), 4);
  // "café été café été": 17 code points in 23 bytes (two blocks of eight and a tail).
  EXPECT_EQ(
      UsageEstimator::codePoints("caf\xc3\xa9 \xc3\xa9t\xc3\xa9 caf\xc3\xa9 \xc3\xa9t\xc3\xa9"),
      17);
}

TEST(UsageEstimatorTest, CodePointsAreCountedAsByteWiseForAnyBytes) {
  // Every length up to 70, bytes of every class (ASCII, continuation 0x80-0xBF, lead bytes
  // 0xC0-0xFF, the edges 0x7F/0x80/0xBF/0xC0) at every position: blocks of eight and the tail.
  std::uint64_t seed = 0x2545f4914f6cdd1dULL;
  const auto next = [&seed] {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed;
  };
  constexpr unsigned char kBytes[] = {0x00, 'a',  0x3F, 0x40, 0x7F, 0x80, 0x81, 0xA9,
                                      0xBF, 0xC0, 0xC3, 0xDF, 0xE2, 0xEF, 0xF0, 0xFF};
  for (int round = 0; round < 5000; ++round) {
    std::string text(next() % 71, 'x');
    for (char& c : text) c = static_cast<char>(kBytes[next() % sizeof kBytes]);
    ASSERT_EQ(UsageEstimator::codePoints(text), byteWise(text)) << round;
  }
  for (int b = 0; b < 256; ++b) {
    for (std::size_t length : {1u, 7u, 8u, 9u, 16u, 23u}) {
      const std::string text(length, static_cast<char>(b));
      ASSERT_EQ(UsageEstimator::codePoints(text), byteWise(text)) << b << " " << length;
    }
  }
  UsageEstimator estimator;
  estimator.addOutputText("h\xc3\xa9llo");
  estimator.addOutputText(std::string(9, '\x80'));
  EXPECT_EQ(estimator.outputChars(), 5);
}

}  // namespace
}  // namespace spendgate::core
