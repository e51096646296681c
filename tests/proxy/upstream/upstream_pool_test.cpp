#include "proxy/upstream/upstream_pool.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <vector>

#include "proxy/server/runtime.hpp"

namespace spendgate::proxy {
namespace {

ProviderRuntime provider(std::string pool_key) {
  ProviderRuntime p;
  p.pool_key = std::move(pool_key);
  return p;
}

// The pool remembers the last origin it looked up: alternating origins, a new origin and
// clear() must still give each origin its own connections, most recently released first.
TEST(UpstreamPool, EachOriginGetsItsOwnConnectionsBack) {
  net::io_context context;
  const ProviderRuntime a = provider("http://a:80");
  const ProviderRuntime b = provider("http://b:80");
  UpstreamPool pool;
  EXPECT_EQ(pool.acquire(a.pool_key), nullptr);

  auto a1 = std::make_unique<UpstreamConnection>(context.get_executor(), a);
  auto a2 = std::make_unique<UpstreamConnection>(context.get_executor(), a);
  auto b1 = std::make_unique<UpstreamConnection>(context.get_executor(), b);
  const UpstreamConnection* a1_seen = a1.get();
  const UpstreamConnection* a2_seen = a2.get();
  const UpstreamConnection* b1_seen = b1.get();
  pool.release(std::move(a1));
  pool.release(std::move(b1));
  pool.release(std::move(a2));

  auto got = pool.acquire(b.pool_key);
  EXPECT_EQ(got.get(), b1_seen);
  EXPECT_EQ(pool.acquire(b.pool_key), nullptr);
  auto first = pool.acquire(a.pool_key);
  EXPECT_EQ(first.get(), a2_seen);  // the last one released
  pool.release(std::move(got));
  auto second = pool.acquire(a.pool_key);
  EXPECT_EQ(second.get(), a1_seen);
  EXPECT_EQ(pool.acquire(a.pool_key), nullptr);
  EXPECT_EQ(pool.acquire("http://c:80"), nullptr);

  pool.release(std::move(first));
  pool.clear();
  EXPECT_EQ(pool.acquire(a.pool_key), nullptr);
  EXPECT_EQ(pool.acquire(b.pool_key), nullptr);
  pool.release(std::move(second));
  auto again = pool.acquire(a.pool_key);
  EXPECT_EQ(again.get(), a1_seen);
}

}  // namespace
}  // namespace spendgate::proxy
