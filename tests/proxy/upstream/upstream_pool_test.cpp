#include "proxy/upstream/upstream_pool.hpp"

#include <gtest/gtest.h>
#include <poll.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/write.hpp>
#include <string_view>
#include <vector>

#include "proxy/server/runtime.hpp"

namespace spendgate::proxy {
namespace {

ProviderRuntime provider(std::string pool_key) {
  ProviderRuntime p;
  p.pool_key = std::move(pool_key);
  return p;
}

// Connected loopback sockets: the pool asks the kernel about an idle plain connection.
class Loopback {
public:
  Loopback() : acceptor_(context_, tcp::endpoint(net::ip::address_v4::loopback(), 0)) {}

  net::io_context& context() { return context_; }

  /** A connection to `provider`'s origin, connected to a peer kept here. */
  std::unique_ptr<UpstreamConnection> connect(const ProviderRuntime& provider) {
    auto connection = std::make_unique<UpstreamConnection>(context_.get_executor(), provider);
    connection->plain().connect(acceptor_.local_endpoint());
    peers_.push_back(acceptor_.accept());
    return connection;
  }

  /** The peer of the connection connect() made last. */
  tcp::socket& lastPeer() { return peers_.back(); }

private:
  net::io_context context_;
  tcp::acceptor acceptor_;
  std::vector<tcp::socket> peers_;
};

/** Blocks until `connection` has bytes to read (no timing: the peer has sent them). */
void waitReadable(UpstreamConnection& connection) {
  pollfd fd{.fd = connection.socket().native_handle(), .events = POLLIN, .revents = 0};
  ASSERT_EQ(::poll(&fd, 1, -1), 1);
}

// The pool remembers the last origin it looked up: alternating origins, a new origin and
// clear() must still give each origin its own connections, most recently released first.
TEST(UpstreamPool, EachOriginGetsItsOwnConnectionsBack) {
  Loopback loopback;
  const ProviderRuntime a = provider("http://a:80");
  const ProviderRuntime b = provider("http://b:80");
  UpstreamPool pool;
  EXPECT_EQ(pool.acquire(a.pool_key), nullptr);

  auto a1 = loopback.connect(a);
  auto a2 = loopback.connect(a);
  auto b1 = loopback.connect(b);
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

// Audit 14 H4: bytes an upstream sends while its connection is idle answer no request; the next
// request on it would read them as its answer. Checked however briefly the connection was idle.
TEST(UpstreamPool, AnIdleConnectionThatReceivedBytesIsClosedNotReused) {
  Loopback loopback;
  const ProviderRuntime a = provider("http://a:80");
  UpstreamPool pool;
  auto quiet = loopback.connect(a);
  const UpstreamConnection* quiet_seen = quiet.get();
  pool.release(std::move(quiet));
  auto noisy = loopback.connect(a);
  UpstreamConnection* noisy_seen = noisy.get();
  pool.release(std::move(noisy));  // the most recently released: acquired first

  const std::string_view extra = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
  net::write(loopback.lastPeer(), net::buffer(extra));
  waitReadable(*noisy_seen);

  auto got = pool.acquire(a.pool_key);
  EXPECT_EQ(got.get(), quiet_seen);  // the noisy one was passed over
  EXPECT_EQ(pool.acquire(a.pool_key), nullptr);
}

TEST(UpstreamPool, AnIdleConnectionTheUpstreamClosedIsNotReused) {
  Loopback loopback;
  const ProviderRuntime a = provider("http://a:80");
  UpstreamPool pool;
  auto connection = loopback.connect(a);
  UpstreamConnection* seen = connection.get();
  pool.release(std::move(connection));
  loopback.lastPeer().shutdown(tcp::socket::shutdown_send);
  waitReadable(*seen);
  EXPECT_EQ(pool.acquire(a.pool_key), nullptr);
}

// What the relay checks before it hands a connection back to the pool.
TEST(UpstreamConnection, LeftoverBytesAreWhatTheReadBufferHoldsPastTheAnswer) {
  net::io_context context;
  UpstreamConnection connection(context.get_executor(), provider("http://a:80"));
  EXPECT_EQ(connection.leftoverBytes(), 0u);
  auto& buffer = connection.buffer();
  const std::string_view extra = "HTTP/1.1 200 OK\r\n";
  buffer.commit(net::buffer_copy(buffer.prepare(extra.size()), net::buffer(extra)));
  EXPECT_EQ(connection.leftoverBytes(), extra.size());
  buffer.consume(buffer.size());
  EXPECT_EQ(connection.leftoverBytes(), 0u);
}

}  // namespace
}  // namespace spendgate::proxy
