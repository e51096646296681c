#include "proxy/store/redis_client.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/proxy/store/redis_server_fixture.hpp"

namespace spendgate::proxy {
namespace {

using namespace std::chrono_literals;
using test::RedisServerFixture;

struct Result {
  bool done = false;
  int calls = 0;
  boost::system::error_code ec;
  RedisReply reply;
};

RedisClient::Callback capture(Result& result) {
  return [&result](boost::system::error_code ec, RedisReply reply) {
    ++result.calls;
    result.done = true;
    result.ec = ec;
    result.reply = std::move(reply);
  };
}

class RedisClientTest : public ::testing::Test {
protected:
  void SetUp() override {
    if (!RedisServerFixture::available()) GTEST_SKIP() << "redis-server is not installed";
  }

  /** Runs the io_context one handler at a time until `done()` or the (generous) deadline. */
  template <typename Pred>
  bool runUntil(Pred done, std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return false;
      if (io_.stopped()) io_.restart();
      if (io_.run_one_for(std::min<std::chrono::steady_clock::duration>(deadline - now, 50ms)) ==
          0) {
        // Out of work (nothing pending at all): don't spin.
        std::this_thread::sleep_for(1ms);
      }
    }
    return true;
  }

  /** Runs for a fixed time (used only to let background retries happen, never as a check). */
  void runFor(std::chrono::milliseconds duration) {
    runUntil([] { return false; }, duration);
  }

  std::shared_ptr<RedisClient> makeClient(const std::string& url,
                                          RedisClient::Options options = {}) {
    options.url = url;
    return RedisClient::create(io_, std::move(options));
  }

  std::shared_ptr<RedisClient> connectedClient(const std::string& url,
                                               RedisClient::Options options = {}) {
    auto client = makeClient(url, std::move(options));
    client->start();
    EXPECT_TRUE(runUntil([&] { return client->connected(); })) << client->lastError();
    return client;
  }

  Result run(RedisClient& client, std::vector<std::string> args) {
    Result result;
    client.command(std::move(args), capture(result));
    EXPECT_TRUE(runUntil([&] { return result.done; }));
    return result;
  }

  Result eval(RedisClient& client,
              const LuaScript& script,
              std::vector<std::string> keys,
              std::vector<std::string> args) {
    Result result;
    client.evalsha(script, std::move(keys), std::move(args), capture(result));
    EXPECT_TRUE(runUntil([&] { return result.done; }));
    return result;
  }

  net::io_context io_;
};

TEST_F(RedisClientTest, SetGetRoundTrip) {
  RedisServerFixture server;
  ASSERT_TRUE(server.start()) << server.lastError();
  auto client = connectedClient(server.url());

  auto set = run(*client, {"SET", "greeting", "hello"});
  EXPECT_FALSE(set.ec) << set.ec.message();
  EXPECT_TRUE(set.reply.isStatus());
  EXPECT_EQ(set.reply.str, "OK");

  auto get = run(*client, {"GET", "greeting"});
  EXPECT_FALSE(get.ec);
  EXPECT_EQ(get.reply, RedisReply::fromString("hello"));

  auto missing = run(*client, {"GET", "nothing-here"});
  EXPECT_FALSE(missing.ec);
  EXPECT_TRUE(missing.reply.isNil());

  auto array = run(*client, {"MGET", "greeting", "nothing-here"});
  ASSERT_TRUE(array.reply.isArray()) << array.reply.toString();
  EXPECT_EQ(array.reply.elements,
            (std::vector<RedisReply>{RedisReply::fromString("hello"), RedisReply::nil()}));
  EXPECT_EQ(set.calls + get.calls + missing.calls + array.calls, 4);
}

TEST_F(RedisClientTest, ArgumentsAreBinarySafe) {
  RedisServerFixture server;
  ASSERT_TRUE(server.start()) << server.lastError();
  auto client = connectedClient(server.url());

  const std::string key("bin\0key\r\n%s *3", 14);
  std::string value;
  for (int i = 0; i < 256; ++i) value.push_back(static_cast<char>(i));
  ASSERT_FALSE(run(*client, {"SET", key, value}).ec);
  EXPECT_EQ(run(*client, {"GET", key}).reply, RedisReply::fromString(value));

  // Larger than hiredis' 16 KiB read chunk and a socket buffer: partial reads and writes.
  std::string big(3 * 1024 * 1024, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131) % 251);
  ASSERT_FALSE(run(*client, {"SET", "big", big}).ec);
  EXPECT_EQ(run(*client, {"STRLEN", "big"}).reply.asInteger(), static_cast<long long>(big.size()));
  auto got = run(*client, {"GET", "big"});
  ASSERT_TRUE(got.reply.isString());
  EXPECT_TRUE(got.reply.str == big);
}

TEST_F(RedisClientTest, ThousandPipelinedIncrsAnswerInOrder) {
  RedisServerFixture server;
  ASSERT_TRUE(server.start()) << server.lastError();
  auto client = connectedClient(server.url());

  constexpr int kCount = 1000;
  std::vector<long long> values;
  int errors = 0;
  for (int i = 0; i < kCount; ++i) {
    client->command({"INCR", "counter"}, [&](boost::system::error_code ec, RedisReply reply) {
      if (ec || !reply.isInteger()) ++errors;
      values.push_back(reply.integer);
    });
  }
  // All queued on the one connection before any reply was read: that is the pipeline.
  EXPECT_EQ(client->pendingCount(), static_cast<std::size_t>(kCount));
  ASSERT_TRUE(runUntil([&] { return values.size() == kCount; }));
  EXPECT_EQ(errors, 0);
  for (int i = 0; i < kCount; ++i) ASSERT_EQ(values[i], i + 1) << "at " << i;
  EXPECT_EQ(client->pendingCount(), 0u);
}

TEST_F(RedisClientTest, CallbacksAreNeverInvokedInsideCommand) {
  RedisServerFixture server;
  ASSERT_TRUE(server.start()) << server.lastError();
  auto client = makeClient(server.url());

  // Disconnected: fails fast, but still posted.
  Result early;
  client->command({"PING"}, capture(early));
  EXPECT_FALSE(early.done);
  ASSERT_TRUE(runUntil([&] { return early.done; }));
  EXPECT_EQ(early.ec, net::error::not_connected);

  client->start();
  ASSERT_TRUE(runUntil([&] { return client->connected(); })) << client->lastError();
  Result invalid;
  client->command({}, capture(invalid));
  EXPECT_FALSE(invalid.done);
  ASSERT_TRUE(runUntil([&] { return invalid.done; }));
  EXPECT_EQ(invalid.ec, net::error::invalid_argument);

  // A callback may issue the next command (re-entrancy).
  Result second;
  bool first_done = false;
  client->command({"SET", "a", "1"}, [&](boost::system::error_code, RedisReply) {
    first_done = true;
    client->command({"GET", "a"}, capture(second));
    EXPECT_FALSE(second.done);
  });
  ASSERT_TRUE(runUntil([&] { return second.done; }));
  EXPECT_TRUE(first_done);
  EXPECT_EQ(second.reply, RedisReply::fromString("1"));
}

TEST_F(RedisClientTest, ErrorRepliesAreRepliesNotTransportErrors) {
  RedisServerFixture server;
  ASSERT_TRUE(server.start()) << server.lastError();
  auto client = connectedClient(server.url());

  ASSERT_FALSE(run(*client, {"SET", "text", "abc"}).ec);
  auto incr = run(*client, {"INCR", "text"});
  EXPECT_FALSE(incr.ec);
  EXPECT_TRUE(incr.reply.isError());
  EXPECT_TRUE(incr.reply.isErrorWithPrefix("ERR")) << incr.reply.toString();

  auto wrongtype = run(*client, {"LPUSH", "text", "x"});
  EXPECT_TRUE(wrongtype.reply.isErrorWithPrefix("WRONGTYPE")) << wrongtype.reply.toString();

  auto unknown = run(*client, {"NO-SUCH-COMMAND", "x"});
  EXPECT_FALSE(unknown.ec);
  EXPECT_TRUE(unknown.reply.isError());

  // The connection is still fine afterwards.
  EXPECT_TRUE(client->connected());
  EXPECT_EQ(run(*client, {"PING"}).reply, RedisReply::fromStatus("PONG"));
}

TEST_F(RedisClientTest, EvalshaFallsBackToEvalOnNoscript) {
  RedisServerFixture server;
  ASSERT_TRUE(server.start()) << server.lastError();
  auto client = connectedClient(server.url());

  const LuaScript script("return redis.call('INCRBY', KEYS[1], ARGV[1])");
  // Redis and OpenSSL agree on the SHA1.
  EXPECT_EQ(run(*client, {"SCRIPT", "LOAD", script.source()}).reply,
            RedisReply::fromString(script.sha1()));
  ASSERT_FALSE(run(*client, {"SCRIPT", "FLUSH"}).ec);

  auto first = eval(*client, script, {"spend"}, {"5"});
  EXPECT_FALSE(first.ec);
  EXPECT_EQ(first.reply, RedisReply::fromInteger(5)) << first.reply.toString();
  // The fallback EVAL cached the script, so the next call is a plain EVALSHA.
  EXPECT_EQ(run(*client, {"SCRIPT", "EXISTS", script.sha1()}).reply,
            RedisReply::fromArray({RedisReply::fromInteger(1)}));
  EXPECT_EQ(eval(*client, script, {"spend"}, {"5"}).reply, RedisReply::fromInteger(10));

  ASSERT_FALSE(run(*client, {"SCRIPT", "FLUSH"}).ec);
  auto after_flush = eval(*client, script, {"spend"}, {"5"});
  EXPECT_FALSE(after_flush.ec);
  EXPECT_EQ(after_flush.reply, RedisReply::fromInteger(15)) << after_flush.reply.toString();
  EXPECT_EQ(after_flush.calls, 1);

  // Many in flight at once right after a flush: every one falls back independently.
  ASSERT_FALSE(run(*client, {"SCRIPT", "FLUSH"}).ec);
  std::vector<Result> results(20);
  for (auto& result : results) client->evalsha(script, {"spend"}, {"1"}, capture(result));
  ASSERT_TRUE(runUntil([&] {
    for (const auto& result : results) {
      if (!result.done) return false;
    }
    return true;
  }));
  for (const auto& result : results) {
    EXPECT_FALSE(result.ec);
    EXPECT_TRUE(result.reply.isInteger()) << result.reply.toString();
  }
  EXPECT_EQ(run(*client, {"GET", "spend"}).reply.asInteger(), 35);

  // A script that fails at run time is an error reply, not NOSCRIPT, and is not retried.
  ASSERT_FALSE(run(*client, {"SET", "text", "abc"}).ec);
  auto failing = eval(*client, script, {"text"}, {"1"});
  EXPECT_FALSE(failing.ec);
  EXPECT_TRUE(failing.reply.isError());
  EXPECT_FALSE(failing.reply.isErrorWithPrefix("NOSCRIPT"));
}

TEST_F(RedisClientTest, ServerKilledFailsPendingPromptlyThenReconnectsByItself) {
  RedisServerFixture server;
  ASSERT_TRUE(server.start()) << server.lastError();
  RedisClient::Options options;
  options.command_timeout = 60s;  // so a prompt failure can't be the timeout
  options.min_backoff = 20ms;
  options.max_backoff = 200ms;
  auto client = connectedClient(server.url(), options);
  std::vector<bool> transitions;
  client->onConnectionChange([&](bool up) { transitions.push_back(up); });

  Result blocked;
  Result queued;
  client->command({"BLPOP", "never-filled", "0"}, capture(blocked));
  client->command({"GET", "x"}, capture(queued));
  runFor(50ms);  // let both reach the server
  ASSERT_FALSE(blocked.done);

  server.stop();
  const auto killed_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(runUntil([&] { return blocked.done && queued.done; }, 5s));
  EXPECT_LT(std::chrono::steady_clock::now() - killed_at, 5s);
  EXPECT_EQ(blocked.ec, net::error::connection_aborted) << blocked.ec.message();
  EXPECT_EQ(queued.ec, net::error::connection_aborted) << queued.ec.message();
  EXPECT_EQ(blocked.calls, 1);
  EXPECT_FALSE(client->connected());
  ASSERT_TRUE(runUntil([&] { return !transitions.empty(); }));
  EXPECT_EQ(transitions, std::vector<bool>{false});

  auto refused = run(*client, {"PING"});
  EXPECT_EQ(refused.ec, net::error::not_connected);

  // Down for a while: the client keeps retrying without anyone asking.
  const auto attempts = client->connectAttempts();
  ASSERT_TRUE(runUntil([&] { return client->connectAttempts() >= attempts + 2; }));
  EXPECT_FALSE(client->connected());

  ASSERT_TRUE(server.restart()) << server.lastError();
  ASSERT_TRUE(runUntil([&] { return client->connected(); }, 10s)) << client->lastError();
  ASSERT_TRUE(runUntil([&] { return transitions.size() == 2; }));
  EXPECT_EQ(transitions, (std::vector<bool>{false, true}));
  EXPECT_FALSE(run(*client, {"SET", "k", "v"}).ec);
  EXPECT_EQ(run(*client, {"GET", "k"}).reply, RedisReply::fromString("v"));
}

TEST_F(RedisClientTest, ClosedPortFailsFastAndKeepsRetryingUntilServerAppears) {
  const auto port = RedisServerFixture::freePort();
  ASSERT_NE(port, 0);
  RedisClient::Options options;
  options.min_backoff = 10ms;
  options.max_backoff = 100ms;
  auto client = makeClient("redis://127.0.0.1:" + std::to_string(port) + "/0", options);
  client->start();

  Result refused;
  client->command({"PING"}, capture(refused));
  ASSERT_TRUE(runUntil([&] { return refused.done; }, 1s));
  EXPECT_EQ(refused.ec, net::error::not_connected);

  ASSERT_TRUE(runUntil([&] { return client->connectAttempts() >= 4; }));
  EXPECT_FALSE(client->connected());
  EXPECT_NE(client->lastError().find("refused"), std::string::npos) << client->lastError();

  RedisServerFixture::Options server_options;
  server_options.port = port;
  RedisServerFixture server(server_options);
  ASSERT_TRUE(server.start()) << server.lastError();
  ASSERT_TRUE(runUntil([&] { return client->connected(); })) << client->lastError();
  EXPECT_EQ(run(*client, {"PING"}).reply, RedisReply::fromStatus("PONG"));
}

TEST_F(RedisClientTest, ConnectTimeoutWhenNothingAnswers) {
  // A listening socket that is never accepted: TCP connects (kernel backlog), Redis never
  // answers the handshake.
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(addr);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(listener, 64), 0);
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &length), 0);

  RedisClient::Options options;
  options.connect_timeout = 150ms;
  options.min_backoff = 10ms;
  options.max_backoff = 50ms;
  auto client = makeClient("redis://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)), options);
  client->start();
  ASSERT_TRUE(runUntil([&] { return client->connectAttempts() >= 3; }));
  EXPECT_FALSE(client->connected());
  EXPECT_NE(client->lastError().find("connect timeout"), std::string::npos) << client->lastError();
  client->stop();
  ::close(listener);
}

TEST_F(RedisClientTest, AuthenticatesWithPasswordAndAclUser) {
  RedisServerFixture::Options server_options;
  server_options.extra_args = {"--requirepass", "s3cret"};
  RedisServerFixture server(server_options);
  ASSERT_TRUE(server.start()) << server.lastError();

  auto client = connectedClient(server.url(0, ":s3cret"));
  EXPECT_FALSE(run(*client, {"SET", "k", "v"}).ec);
  EXPECT_EQ(run(*client, {"GET", "k"}).reply, RedisReply::fromString("v"));

  auto acl_client = connectedClient(server.url(0, "default:s3cret"));
  EXPECT_EQ(run(*acl_client, {"GET", "k"}).reply, RedisReply::fromString("v"));

  RedisClient::Options options;
  options.min_backoff = 10ms;
  options.max_backoff = 50ms;
  auto wrong = makeClient(server.url(0, ":wrong"), options);
  wrong->start();
  ASSERT_TRUE(runUntil([&] { return wrong->connectAttempts() >= 3; }));
  EXPECT_FALSE(wrong->connected());
  EXPECT_NE(wrong->lastError().find("handshake failed"), std::string::npos) << wrong->lastError();
  EXPECT_EQ(run(*wrong, {"PING"}).ec, net::error::not_connected);

  auto no_password = makeClient(server.url(), options);
  no_password->start();
  ASSERT_TRUE(runUntil([&] { return no_password->connectAttempts() >= 2; }));
  EXPECT_FALSE(no_password->connected());
  EXPECT_NE(no_password->lastError().find("NOAUTH"), std::string::npos) << no_password->lastError();
}

TEST_F(RedisClientTest, SelectsTheDatabaseFromTheUrl) {
  RedisServerFixture server;
  ASSERT_TRUE(server.start()) << server.lastError();
  auto db3 = connectedClient(server.url(3));
  auto db0 = connectedClient(server.url(0));
  ASSERT_FALSE(run(*db3, {"SET", "where", "three"}).ec);
  EXPECT_EQ(run(*db3, {"GET", "where"}).reply, RedisReply::fromString("three"));
  EXPECT_TRUE(run(*db0, {"GET", "where"}).reply.isNil());
}

TEST_F(RedisClientTest, CommandTimeoutFailsTheCommandAndReconnects) {
  RedisServerFixture server;
  ASSERT_TRUE(server.start()) << server.lastError();
  RedisClient::Options options;
  options.command_timeout = 200ms;
  options.min_backoff = 10ms;
  options.max_backoff = 100ms;
  auto client = connectedClient(server.url(), options);
  std::vector<bool> transitions;
  client->onConnectionChange([&](bool up) { transitions.push_back(up); });

  // BLPOP blocks server-side for 5 s, like a stalled Redis, while other clients still work.
  Result slow;
  Result behind;
  const auto sent_at = std::chrono::steady_clock::now();
  client->command({"BLPOP", "empty-list", "5"}, capture(slow));
  client->command({"PING"}, capture(behind));
  ASSERT_TRUE(runUntil([&] { return slow.done && behind.done; }, 4s));
  EXPECT_LT(std::chrono::steady_clock::now() - sent_at, 4s);
  EXPECT_EQ(slow.ec, net::error::timed_out) << slow.ec.message();
  EXPECT_EQ(behind.ec, net::error::connection_aborted) << behind.ec.message();
  EXPECT_EQ(slow.calls, 1);

  // The connection was dropped (later replies would be misattributed) and comes back.
  ASSERT_TRUE(runUntil([&] { return transitions.size() >= 2; })) << client->lastError();
  EXPECT_EQ(transitions, (std::vector<bool>{false, true}));
  ASSERT_TRUE(client->connected());
  EXPECT_EQ(run(*client, {"PING"}).reply, RedisReply::fromStatus("PONG"));
}

TEST_F(RedisClientTest, StopFailsPendingWithOperationAbortedAndCanRestart) {
  RedisServerFixture server;
  ASSERT_TRUE(server.start()) << server.lastError();
  auto client = connectedClient(server.url());
  std::vector<bool> transitions;
  client->onConnectionChange([&](bool up) { transitions.push_back(up); });

  Result blocked;
  client->command({"BLPOP", "never-filled", "0"}, capture(blocked));
  runFor(20ms);
  client->stop();
  EXPECT_FALSE(blocked.done);  // posted, not run inside stop()
  EXPECT_FALSE(client->connected());
  ASSERT_TRUE(runUntil([&] { return blocked.done && !transitions.empty(); }));
  EXPECT_EQ(blocked.ec, net::error::operation_aborted);
  EXPECT_EQ(transitions, std::vector<bool>{false});
  EXPECT_EQ(run(*client, {"PING"}).ec, net::error::not_connected);

  // Stopped means stopped: no reconnect attempts in the background.
  const auto attempts = client->connectAttempts();
  runFor(100ms);
  EXPECT_EQ(client->connectAttempts(), attempts);

  client->start();
  ASSERT_TRUE(runUntil([&] { return client->connected(); })) << client->lastError();
  EXPECT_EQ(run(*client, {"PING"}).reply, RedisReply::fromStatus("PONG"));
}

TEST_F(RedisClientTest, DestroyingTheClientFailsPendingCallbacks) {
  RedisServerFixture server;
  ASSERT_TRUE(server.start()) << server.lastError();
  auto client = connectedClient(server.url());
  Result blocked;
  Result queued;
  client->command({"BLPOP", "never-filled", "0"}, capture(blocked));
  client->command({"PING"}, capture(queued));
  runFor(20ms);
  client.reset();
  ASSERT_TRUE(runUntil([&] { return blocked.done && queued.done; }));
  EXPECT_EQ(blocked.ec, net::error::operation_aborted);
  EXPECT_EQ(queued.ec, net::error::operation_aborted);
}

TEST_F(RedisClientTest, ConnectsOverUnixSocketAndByHostName) {
  RedisServerFixture::Options server_options;
  server_options.unix_socket = true;
  RedisServerFixture server(server_options);
  ASSERT_TRUE(server.start()) << server.lastError();

  auto unix_client = connectedClient("unix://" + server.socketPath() + "?db=2");
  ASSERT_FALSE(run(*unix_client, {"SET", "via", "unix"}).ec);

  auto named = connectedClient("redis://localhost:" + std::to_string(server.port()) + "/2");
  EXPECT_EQ(run(*named, {"GET", "via"}).reply, RedisReply::fromString("unix"));
}

TEST_F(RedisClientTest, InvalidUrlNeverConnects) {
  RedisClient::Options options;
  options.min_backoff = 10ms;
  auto client = makeClient("http://127.0.0.1:6379", options);
  client->start();
  ASSERT_TRUE(runUntil([&] { return client->connectAttempts() >= 2; }));
  EXPECT_FALSE(client->connected());
  EXPECT_NE(client->lastError().find("invalid redis url"), std::string::npos);
  client->stop();
}

}  // namespace
}  // namespace spendgate::proxy
