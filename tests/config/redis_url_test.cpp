#include "config/redis_url.hpp"

#include <gtest/gtest.h>

namespace spendgate::config {
namespace {

TEST(RedisUrlTest, HostPortDb) {
  auto url = RedisUrl::parse("redis://10.0.0.5:6380/4");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->host, "10.0.0.5");
  EXPECT_EQ(url->port, 6380);
  EXPECT_EQ(url->db, 4);
  EXPECT_FALSE(url->password);
  EXPECT_FALSE(url->isUnix());
}

TEST(RedisUrlTest, Defaults) {
  auto url = RedisUrl::parse("redis://cache.internal");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->host, "cache.internal");
  EXPECT_EQ(url->port, 6379);
  EXPECT_EQ(url->db, 0);
  EXPECT_EQ(RedisUrl::parse("redis://h/")->db, 0);
}

TEST(RedisUrlTest, PasswordAndAclUserArePercentDecoded) {
  auto legacy = RedisUrl::parse("redis://:p%40ss@127.0.0.1:6379/0");
  ASSERT_TRUE(legacy);
  EXPECT_EQ(legacy->user, "");
  EXPECT_EQ(legacy->password, "p@ss");

  auto acl = RedisUrl::parse("redis://spend%2Dgate:secret@127.0.0.1/1");
  ASSERT_TRUE(acl);
  EXPECT_EQ(acl->user, "spend-gate");
  EXPECT_EQ(acl->password, "secret");
  EXPECT_EQ(acl->db, 1);
  EXPECT_EQ(acl->redacted(), "redis://spend-gate:***@127.0.0.1:6379/1");
}

TEST(RedisUrlTest, Ipv6Literal) {
  auto url = RedisUrl::parse("redis://[::1]:7000/2");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, 7000);
  EXPECT_EQ(url->redacted(), "redis://[::1]:7000/2");
}

TEST(RedisUrlTest, UnixSocket) {
  auto url = RedisUrl::parse("unix:///run/redis/redis.sock");
  ASSERT_TRUE(url);
  EXPECT_TRUE(url->isUnix());
  EXPECT_EQ(url->socket_path, "/run/redis/redis.sock");
  EXPECT_EQ(url->db, 0);

  auto with_auth = RedisUrl::parse("unix://:pw@/tmp/r.sock?db=3");
  ASSERT_TRUE(with_auth);
  EXPECT_EQ(with_auth->socket_path, "/tmp/r.sock");
  EXPECT_EQ(with_auth->password, "pw");
  EXPECT_EQ(with_auth->db, 3);
}

// The config accepts any case of the scheme, so the store must too (else it stays down for good).
TEST(RedisUrlTest, SchemeIsCaseInsensitive) {
  auto url = RedisUrl::parse("REDIS://cache:6380/2");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->host, "cache");
  EXPECT_EQ(url->port, 6380);
  EXPECT_EQ(url->db, 2);
}

TEST(RedisUrlTest, RejectsWhatItCannotServe) {
  std::string error;
  EXPECT_FALSE(RedisUrl::parse("rediss://host:6380/0", &error));
  EXPECT_NE(error.find("TLS"), std::string::npos);
  EXPECT_FALSE(RedisUrl::parse("http://host/0", &error));
  EXPECT_FALSE(RedisUrl::parse("redis://host/abc", &error));
  EXPECT_FALSE(RedisUrl::parse("redis://host/-1", &error));
  EXPECT_FALSE(RedisUrl::parse("redis://host:0/0", &error));
  // Boost.URL keeps a port's low 16 bits: 71915 would have been 6379.
  EXPECT_FALSE(RedisUrl::parse("redis://127.0.0.1:71915/0", &error));
  EXPECT_NE(error.find("invalid port '71915'"), std::string::npos) << error;
  EXPECT_FALSE(RedisUrl::parse("redis:///0", &error));
  EXPECT_FALSE(RedisUrl::parse("unix://host/tmp/r.sock", &error));
  EXPECT_FALSE(RedisUrl::parse("not a url", &error));
  auto secret = RedisUrl::parse("redis://:hunter2@host/x", &error);
  EXPECT_FALSE(secret);
  EXPECT_EQ(error.find("hunter2"), std::string::npos);
}

}  // namespace
}  // namespace spendgate::config
