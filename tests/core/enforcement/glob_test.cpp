#include "core/enforcement/glob.hpp"

#include <gtest/gtest.h>

namespace spendgate::core {
namespace {

TEST(GlobMatch, Literals) {
  EXPECT_TRUE(globMatch("gpt-4o", "gpt-4o"));
  EXPECT_FALSE(globMatch("gpt-4o", "gpt-4o-mini"));
  EXPECT_FALSE(globMatch("gpt-4o", "GPT-4o"));  // case-sensitive
  EXPECT_TRUE(globMatch("", ""));
  EXPECT_FALSE(globMatch("", "x"));
}

TEST(GlobMatch, Star) {
  EXPECT_TRUE(globMatch("gpt-4o*", "gpt-4o"));
  EXPECT_TRUE(globMatch("gpt-4o*", "gpt-4o-mini-2024-07-18"));
  EXPECT_FALSE(globMatch("gpt-4o*", "gpt-4"));
  EXPECT_TRUE(globMatch("*", ""));
  EXPECT_TRUE(globMatch("*sonnet*", "claude-3-5-sonnet-latest"));
  EXPECT_TRUE(globMatch("a*b*c", "aXXbYYc"));
  EXPECT_FALSE(globMatch("a*b*c", "aXXbYY"));
  EXPECT_TRUE(globMatch("*-mini", "o4-mini"));
  EXPECT_TRUE(globMatch("**", "anything"));
}

TEST(GlobMatch, QuestionMark) {
  EXPECT_TRUE(globMatch("o?", "o1"));
  EXPECT_FALSE(globMatch("o?", "o"));
  EXPECT_FALSE(globMatch("o?", "o12"));
  EXPECT_FALSE(globMatch("?*", ""));  // requires the attribute to be present
  EXPECT_TRUE(globMatch("?*", "a"));
}

TEST(GlobMatch, BacktracksWithoutBlowingUp) {
  const std::string text(5000, 'a');
  EXPECT_FALSE(globMatch("*a*a*a*a*a*a*b", text));
  EXPECT_TRUE(globMatch("*a*a*a*a*a*a*", text));
}

}  // namespace
}  // namespace spendgate::core
