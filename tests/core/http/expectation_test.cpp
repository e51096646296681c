#include "core/http/expectation.hpp"

#include <gtest/gtest.h>

namespace spendgate::core {
namespace {

TEST(Expectation, HundredContinueIsMet) {
  for (const char* value : {"100-continue", "100-Continue", " 100-CONTINUE ", ",100-continue,",
                            "100-continue, 100-continue"}) {
    const auto e = readExpectation(value);
    EXPECT_TRUE(e.continue_expected) << value;
    EXPECT_TRUE(e.unmet.empty()) << value;
  }
}

TEST(Expectation, NoneIsMet) {
  for (const char* value : {"", " ", " , "}) {
    const auto e = readExpectation(value);
    EXPECT_FALSE(e.continue_expected) << value;
    EXPECT_TRUE(e.unmet.empty()) << value;
  }
}

TEST(Expectation, AnyOtherIsUnmet) {
  EXPECT_EQ(readExpectation("102-processing").unmet, "102-processing");
  EXPECT_EQ(readExpectation("100-continue;x=1").unmet, "100-continue;x=1");
  EXPECT_EQ(readExpectation("100-continue=1").unmet, "100-continue=1");
  EXPECT_EQ(readExpectation("100-continuex").unmet, "100-continuex");
  const auto both = readExpectation("100-continue, foo , bar");
  EXPECT_TRUE(both.continue_expected);
  EXPECT_EQ(both.unmet, "foo");
}

}  // namespace
}  // namespace spendgate::core
