#include "core/text/utf8.hpp"

#include <gtest/gtest.h>

namespace spendgate::core {
namespace {

const std::string kFffd = "\xEF\xBF\xBD";

TEST(Utf8, ValidTextComesBackUnchanged) {
  for (const std::string text : {"", "search-team", "équipe", "チーム", "\xF0\x9F\x92\xB8 spend",
                                 "\xF4\x8F\xBF\xBF", "\x7F"}) {
    EXPECT_TRUE(isValidUtf8(text)) << text;
    EXPECT_EQ(validUtf8(text), text);
  }
}

TEST(Utf8, EachMaximalInvalidPrefixBecomesOneReplacementCharacter) {
  EXPECT_EQ(validUtf8("team\xFF"), "team" + kFffd);
  EXPECT_EQ(validUtf8("\x80\x80"), kFffd + kFffd);              // stray continuation bytes
  EXPECT_EQ(validUtf8("a\xE2\x82"), "a" + kFffd);               // truncated at the end: one
  EXPECT_EQ(validUtf8("\xE2\x82(x"), kFffd + "(x");             // cut short before ASCII
  EXPECT_EQ(validUtf8("\xC0\xAF"), kFffd + kFffd);              // overlong '/'
  EXPECT_EQ(validUtf8("\xE0\x80\xAF"), kFffd + kFffd + kFffd);  // overlong, 3 bytes
  EXPECT_EQ(validUtf8("\xED\xA0\x80"), kFffd + kFffd + kFffd);  // a UTF-16 surrogate
  EXPECT_EQ(validUtf8("\xF4\x90\x80\x80"), kFffd + kFffd + kFffd + kFffd);  // above U+10FFFF
  EXPECT_EQ(validUtf8("\xF5"), kFffd);
  for (const std::string text : {"team\xFF", "\xC0\xAF", "\xED\xA0\x80", "a\xE2\x82"}) {
    EXPECT_FALSE(isValidUtf8(text)) << text;
    EXPECT_TRUE(isValidUtf8(validUtf8(text))) << text;
  }
}

}  // namespace
}  // namespace spendgate::core
