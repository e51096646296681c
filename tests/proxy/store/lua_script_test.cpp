#include "proxy/store/lua_script.hpp"

#include <gtest/gtest.h>

namespace spendgate::proxy {
namespace {

TEST(LuaScriptTest, Sha1IsLowerCaseHexOfTheSource) {
  const LuaScript script("return 1");
  EXPECT_EQ(script.source(), "return 1");
  EXPECT_EQ(script.sha1(), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
  EXPECT_EQ(LuaScript("").sha1(), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}

TEST(LuaScriptTest, CopiesShareState) {
  const LuaScript script("return redis.call('GET', KEYS[1])");
  const LuaScript copy = script;
  EXPECT_EQ(&copy.source(), &script.source());
  EXPECT_EQ(copy.sha1(), script.sha1());
}

}  // namespace
}  // namespace spendgate::proxy
