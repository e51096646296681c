#include "proxy/server/abandon_on_unwind.hpp"

#include <gtest/gtest.h>

#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/net.hpp"
#include "proxy/server/event_loop.hpp"

namespace spendgate::proxy {
namespace {

/** Stands for ClientSession: records what abandon() was called with. */
struct FakeSession {
  std::vector<std::string> abandoned;
  void abandon(std::string_view why) noexcept { abandoned.emplace_back(why); }
};

/**
 * An operation whose intermediate handler throws before it completes, as Beast's read does when a
 * parser callback throws: the exception goes through io_context::run, never into the coroutine
 * that awaits the operation, and the coroutine's frames are destroyed with the handler.
 */
template <class Token>
auto asyncThrowInsideOperation(net::io_context& context, Token&& token) {
  return net::async_initiate<Token, void()>(
      [&context](auto handler) {
        net::post(context, [handler = std::move(handler)]() mutable {
          throw std::length_error("field value too large");
        });
      },
      token);
}

TEST(AbandonOnUnwindTest, AFrameUnwoundFromTheEventLoopAbandonsTheSessionWhileOthersStillHoldIt) {
  // Review of 0bad715: the session was abandoned only by its destructor, and a pending disconnect
  // watch holding a shared_ptr to it put that off until the client left.
  net::io_context context;
  auto session = std::make_shared<FakeSession>();
  net::steady_timer watch(context, std::chrono::hours(1));  // the pending disconnect watch
  watch.async_wait([session](boost::system::error_code) {});
  net::co_spawn(
      context,
      [session, &context]() -> net::awaitable<void> {
        AbandonOnUnwind guard(*session, "unwound");
        co_await asyncThrowInsideOperation(context, net::use_awaitable);
        guard.dismiss();
      },
      net::detached);

  std::vector<std::string> abandoned_by_then;
  long holders_by_then = 0;
  runCatching(context, [&](const std::string&) {
    // Runs after the frames' destruction, which asio posts as the failed handler unwinds.
    net::post(context, [&] {
      abandoned_by_then = session->abandoned;
      holders_by_then = session.use_count();
      watch.cancel();  // the watch ends: the loop runs out of work
    });
  });
  EXPECT_EQ(abandoned_by_then, std::vector<std::string>{"unwound"});
  EXPECT_EQ(holders_by_then, 2);  // this test's and the watch's
  EXPECT_EQ(session->abandoned.size(), 1u);
}

TEST(AbandonOnUnwindTest, ADismissedGuardDoesNothing) {
  FakeSession session;
  {
    AbandonOnUnwind guard(session, "unwound");
    guard.dismiss();
  }
  EXPECT_TRUE(session.abandoned.empty());
  { AbandonOnUnwind guard(session, "unwound"); }
  EXPECT_EQ(session.abandoned, std::vector<std::string>{"unwound"});
}

}  // namespace
}  // namespace spendgate::proxy
