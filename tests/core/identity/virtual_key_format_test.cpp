#include "core/identity/virtual_key_format.hpp"

#include <gtest/gtest.h>

#include <string>

namespace spendgate::core {
namespace {

TEST(VirtualKeyFormatTest, PrefixAndThirtyTwoLettersOrDigits) {
  EXPECT_TRUE(hasVirtualKeyFormat("sk-sg-" + std::string(32, 'a')));
  EXPECT_TRUE(hasVirtualKeyFormat("sk-sg-AZaz09AZaz09AZaz09AZaz09AZaz09Zz"));
}

TEST(VirtualKeyFormatTest, OtherShapesAreNotOurs) {
  EXPECT_FALSE(hasVirtualKeyFormat(""));
  EXPECT_FALSE(hasVirtualKeyFormat("sk-sg-" + std::string(31, 'a')));
  EXPECT_FALSE(hasVirtualKeyFormat("sk-sg-" + std::string(33, 'a')));
  EXPECT_FALSE(hasVirtualKeyFormat("sk-sg-" + std::string(31, 'a') + "-"));
  EXPECT_FALSE(hasVirtualKeyFormat("sk-SG-" + std::string(32, 'a')));
  EXPECT_FALSE(hasVirtualKeyFormat("sk-proj-" + std::string(30, 'a')));
}

}  // namespace
}  // namespace spendgate::core
