#include "proxy/store/redis_reply.hpp"

#include <gtest/gtest.h>

namespace spendgate::proxy {
namespace {

TEST(RedisReplyTest, DefaultIsNil) {
  RedisReply reply;
  EXPECT_TRUE(reply.isNil());
  EXPECT_FALSE(reply.asInteger());
  EXPECT_FALSE(reply.asString());
  EXPECT_EQ(reply.toString(), "(nil)");
}

TEST(RedisReplyTest, AsIntegerAcceptsIntegersAndDecimalStrings) {
  EXPECT_EQ(RedisReply::fromInteger(-7).asInteger(), -7);
  EXPECT_EQ(RedisReply::fromString("42").asInteger(), 42);
  EXPECT_EQ(RedisReply::fromString("-9223372036854775808").asInteger(), INT64_MIN);
  EXPECT_FALSE(RedisReply::fromString("42.5").asInteger());
  EXPECT_FALSE(RedisReply::fromString("").asInteger());
  EXPECT_FALSE(RedisReply::fromString("9223372036854775808").asInteger());
  EXPECT_FALSE(RedisReply::fromError("42").asInteger());
}

TEST(RedisReplyTest, ErrorsAndStrings) {
  auto error = RedisReply::fromError("NOSCRIPT No matching script");
  EXPECT_TRUE(error.isError());
  EXPECT_TRUE(error.isErrorWithPrefix("NOSCRIPT"));
  EXPECT_FALSE(error.isErrorWithPrefix("ERR"));
  EXPECT_FALSE(error.asString());
  EXPECT_FALSE(RedisReply::fromString("NOSCRIPT").isErrorWithPrefix("NOSCRIPT"));
  EXPECT_EQ(RedisReply::fromStatus("OK").asString(), "OK");
  EXPECT_EQ(RedisReply::fromArray({RedisReply::fromInteger(1), RedisReply::nil()}).toString(),
            "[(integer) 1, (nil)]");
}

}  // namespace
}  // namespace spendgate::proxy
