#include "core/usage/usage_estimator.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace spendgate::core {
namespace {

/** The rule weight() computes eight bytes at a time, byte by byte: the same for any bytes. */
std::int64_t byteWise(std::string_view utf8) {
  std::int64_t weight = 0;
  for (const char c : utf8) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x80) {
      weight += 1;  // ASCII
    } else if ((byte & 0xC0) != 0x80) {
      weight += 4;  // starts a multi-byte code point
    }
  }
  return weight;
}

std::int64_t outputTokensOf(std::string_view text) {
  UsageEstimator estimator;
  estimator.addOutputText(text);
  return estimator.outputTokens();
}

/** `text` `times` times over. */
std::string repeated(std::string_view text, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out += text;
  return out;
}

TEST(UsageEstimatorTest, WeightOfUtf8) {
  EXPECT_EQ(UsageEstimator::weight(""), 0);
  EXPECT_EQ(UsageEstimator::weight("Hello! How can I help you today?"), 32);
  // é (2 bytes), € (3), 😀 (4), 中 (3): 4 quarter tokens each.
  EXPECT_EQ(UsageEstimator::weight("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xe4\xb8\xad"), 16);
  // "café été café été": 11 ASCII and 6 × 4 for é, in 23 bytes (two blocks of eight and a tail).
  EXPECT_EQ(UsageEstimator::weight("caf\xc3\xa9 \xc3\xa9t\xc3\xa9 caf\xc3\xa9 \xc3\xa9t\xc3\xa9"),
            35);
}

TEST(UsageEstimatorTest, EnglishIsAboutFourCharactersPerToken) {
  // 310 characters, as in the audit: 78 tokens (rounded up).
  EXPECT_EQ(outputTokensOf(std::string(310, 'a')), 78);
  EXPECT_EQ(outputTokensOf("Hello! How can I help you today?"), 8);
  EXPECT_EQ(outputTokensOf("Hi"), 1);
}

TEST(UsageEstimatorTest, ChineseJapaneseAndEmojiAreOneTokenPerCharacter) {
  // 190 Chinese characters (570 bytes): 190 tokens, not 48 (code points / 4).
  EXPECT_EQ(outputTokensOf(repeated("\xe4\xbd\xa0\xe5\xa5\xbd", 95)), 190);  // 你好
  // 160 Japanese characters, kana and kanji: 160, not 40.
  EXPECT_EQ(outputTokensOf(repeated("\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe6\x97\xa5", 40)),
            160);  // こんに日
  // 100 emoji (400 bytes): 100, not 25.
  EXPECT_EQ(outputTokensOf(repeated("\xf0\x9f\x98\x80", 100)), 100);  // 😀
}

TEST(UsageEstimatorTest, MixedTextRoundsUpItsAsciiPartOnly) {
  // "OK, 中文 ok 😀!": 9 ASCII characters (3 tokens, rounded up) and 3 other code points.
  EXPECT_EQ(outputTokensOf("OK, \xe4\xb8\xad\xe6\x96\x87 ok \xf0\x9f\x98\x80!"), 3 + 3);
  // Text counted in pieces, split inside a code point, weighs the same as in one piece.
  UsageEstimator pieces;
  pieces.addOutputText("ab\xe4");
  pieces.addOutputText(
      "\xb8\xad"
      "c");
  EXPECT_EQ(pieces.outputWeight(), 3 + 4);
  EXPECT_EQ(pieces.outputTokens(), 2);
}

TEST(UsageEstimatorTest, InputIsBodyBytesOverFour) {
  // 190 Chinese characters in a JSON body are at least 570 bytes: at least 143 tokens, about
  // three quarters of one per character, before the body's JSON around them.
  EXPECT_EQ(UsageEstimator(570).inputTokens(), 143);
  EXPECT_EQ(UsageEstimator(0).inputTokens(), 0);
}

TEST(UsageEstimatorTest, WeightIsCountedAsByteWiseForAnyBytes) {
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
    ASSERT_EQ(UsageEstimator::weight(text), byteWise(text)) << round;
  }
  for (int b = 0; b < 256; ++b) {
    for (std::size_t length : {1u, 7u, 8u, 9u, 16u, 23u}) {
      const std::string text(length, static_cast<char>(b));
      ASSERT_EQ(UsageEstimator::weight(text), byteWise(text)) << b << " " << length;
    }
  }
  UsageEstimator estimator;
  estimator.addOutputText("h\xc3\xa9llo");
  estimator.addOutputText(std::string(9, '\x80'));  // stray continuation bytes weigh nothing
  EXPECT_EQ(estimator.outputWeight(), 8);
}

}  // namespace
}  // namespace spendgate::core
