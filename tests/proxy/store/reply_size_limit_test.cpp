#include "proxy/store/reply_size_limit.hpp"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <memory>
#include <string>

namespace spendgate::proxy {
namespace {

struct ReaderFree {
  void operator()(redisReader* r) const { redisReaderFree(r); }
};
using Reader = std::unique_ptr<redisReader, ReaderFree>;

// Audit 14: a peer answering `*2147483647` made hiredis allocate 16 GiB of element pointers
// before any element came (the proxy went past 11 GB and was killed).
TEST(ReplySizeLimit, AnArrayAnnouncingTooManyElementsFailsTheReader) {
  Reader reader(redisReaderCreate());
  ASSERT_TRUE(reader);
  limitReplySize(*reader);
  const std::string huge = "*" + std::to_string(kMaxRedisReplyElements + 1) + "\r\n";
  ASSERT_EQ(redisReaderFeed(reader.get(), huge.data(), huge.size()), REDIS_OK);
  void* reply = nullptr;
  EXPECT_EQ(redisReaderGetReply(reader.get(), &reply), REDIS_ERR);
  EXPECT_EQ(reply, nullptr);
  EXPECT_EQ(takeRefusedArraySize(), kMaxRedisReplyElements + 1);  // why, for the log
  EXPECT_EQ(takeRefusedArraySize(), -1);

  // Without the limit the same reader waits for the elements (having allocated room for them).
  Reader plain(redisReaderCreate());
  ASSERT_EQ(redisReaderFeed(plain.get(), huge.data(), huge.size()), REDIS_OK);
  EXPECT_EQ(redisReaderGetReply(plain.get(), &reply), REDIS_OK);
  EXPECT_EQ(reply, nullptr);
}

TEST(ReplySizeLimit, OrdinaryRepliesAreReadAsBefore) {
  Reader reader(redisReaderCreate());
  limitReplySize(*reader);
  limitReplySize(*reader);  // twice is once
  const std::string text = "*3\r\n:1\r\n$2\r\nok\r\n*2\r\n:7\r\n$-1\r\n";
  ASSERT_EQ(redisReaderFeed(reader.get(), text.data(), text.size()), REDIS_OK);
  void* out = nullptr;
  ASSERT_EQ(redisReaderGetReply(reader.get(), &out), REDIS_OK);
  ASSERT_NE(out, nullptr);
  auto* reply = static_cast<redisReply*>(out);
  ASSERT_EQ(reply->type, REDIS_REPLY_ARRAY);
  ASSERT_EQ(reply->elements, 3u);
  EXPECT_EQ(reply->element[0]->integer, 1);
  EXPECT_EQ(std::string(reply->element[1]->str, reply->element[1]->len), "ok");
  EXPECT_EQ(reply->element[2]->elements, 2u);
  freeReplyObject(reply);

  // The largest allowed array is still built.
  const std::string most = "*" + std::to_string(kMaxRedisReplyElements) + "\r\n";
  ASSERT_EQ(redisReaderFeed(reader.get(), most.data(), most.size()), REDIS_OK);
  EXPECT_EQ(redisReaderGetReply(reader.get(), &out), REDIS_OK);  // waiting for its elements
}

}  // namespace
}  // namespace spendgate::proxy
