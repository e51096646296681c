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

TEST(GlobMatch, BracketClasses) {
  EXPECT_TRUE(globMatch("gpt-4o-[0-9]*", "gpt-4o-2024-08-06"));
  EXPECT_FALSE(globMatch("gpt-4o-[0-9]*", "gpt-4o-mini"));
  EXPECT_TRUE(globMatch("o[134]-mini", "o3-mini"));
  EXPECT_FALSE(globMatch("o[134]-mini", "o2-mini"));
  EXPECT_TRUE(globMatch("[a-cx]", "b"));
  EXPECT_TRUE(globMatch("[a-cx]", "x"));
  EXPECT_FALSE(globMatch("[a-cx]", "d"));
  EXPECT_FALSE(globMatch("[a-c]", ""));  // a class is exactly one character
  EXPECT_FALSE(globMatch("[a-c]", "ab"));
}

TEST(GlobMatch, NegatedClasses) {
  for (const char* pattern : {"team-[!ab]", "team-[^ab]"}) {
    EXPECT_TRUE(globMatch(pattern, "team-c")) << pattern;
    EXPECT_FALSE(globMatch(pattern, "team-a")) << pattern;
    EXPECT_FALSE(globMatch(pattern, "team-")) << pattern;
  }
  EXPECT_TRUE(globMatch("[!0-9]*", "gpt"));
  EXPECT_FALSE(globMatch("[!0-9]*", "4o"));
}

TEST(GlobMatch, ClassEdgeMembers) {
  EXPECT_TRUE(globMatch("[]]", "]"));  // `]` first is a member
  EXPECT_TRUE(globMatch("[]a]", "a"));
  EXPECT_TRUE(globMatch("[!]]", "x"));  // ... also after the negation
  EXPECT_FALSE(globMatch("[!]]", "]"));
  EXPECT_TRUE(globMatch("[a-]", "-"));  // `-` last or first is a member
  EXPECT_TRUE(globMatch("[-a]", "-"));
  EXPECT_TRUE(globMatch("[*?]", "*"));  // no wildcards inside a class
  EXPECT_FALSE(globMatch("[*?]", "x"));
  EXPECT_TRUE(globMatch("*[0-9]", "gpt-4"));  // classes backtrack like literals
  EXPECT_FALSE(globMatch("*[0-9]", "gpt-4o"));
}

TEST(GlobError, MalformedPatterns) {
  EXPECT_FALSE(globError("gpt-4o*"));
  EXPECT_FALSE(globError("[]]"));
  EXPECT_FALSE(globError("[a-z][!0-9]?*"));
  const auto unclosed = globError("gpt-[4");
  ASSERT_TRUE(unclosed);
  EXPECT_EQ(unclosed->offset, 4u);
  for (const char* empty : {"[]", "[!]", "[^]", "x[", "[a-z"})
    EXPECT_TRUE(globError(empty)) << empty;
  const auto reversed = globError("a[z-a]");
  ASSERT_TRUE(reversed);
  EXPECT_EQ(reversed->offset, 2u);
}

TEST(GlobIsLiteral, OnlyPatternsWithoutWildcardsOrClasses) {
  for (const char* literal : {"", "gpt-4o", "a-b.c/d", "x]"})
    EXPECT_TRUE(globIsLiteral(literal)) << literal;
  for (const char* glob : {"gpt-*", "a?", "[ab]", "x["}) EXPECT_FALSE(globIsLiteral(glob)) << glob;
}

TEST(GlobMatch, BacktracksWithoutBlowingUp) {
  const std::string text(5000, 'a');
  EXPECT_FALSE(globMatch("*a*a*a*a*a*a*b", text));
  EXPECT_TRUE(globMatch("*a*a*a*a*a*a*", text));
}

}  // namespace
}  // namespace spendgate::core
