#include "proxy/server/accept_loop.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "proxy/net.hpp"
#include "proxy/server/loop_failures.hpp"

namespace spendgate::proxy {
namespace {

TEST(AcceptLoopTest, AnExceptionOutOfATurnIsLoggedAndTheLoopAcceptsTheNextConnection) {
  // Review of 0bad715: an exception in a detached accept loop ended it, and its listener stayed
  // open, never accepting again (under SO_REUSEPORT, that worker's share of new connections).
  net::io_context context;
  tcp::acceptor acceptor(context, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  // Both connections wait in the listener's backlog before the loop runs.
  tcp::socket first(context), second(context);
  first.connect(acceptor.local_endpoint());
  second.connect(acceptor.local_endpoint());

  std::vector<std::string> logged;
  LoopFailures failures("test accept loop",
                        [&](const std::string& line) { logged.push_back(line); });
  int served = 0;
  auto serve = [&](Socket) {
    if (++served == 1) throw std::runtime_error("no memory for the session");
    acceptor.close();  // the second one: the loop ends, the context runs out of work
  };
  net::co_spawn(context,
                acceptConnections(acceptor, context.get_executor(), serve, failures,
                                  std::chrono::milliseconds(0)),
                net::detached);
  context.run();
  EXPECT_EQ(served, 2);
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_EQ(logged[0], "test accept loop: exception: no memory for the session; the loop goes on");
}

TEST(AcceptLoopTest, ClosingTheAcceptorEndsTheLoopWithoutAFailure) {
  net::io_context context;
  tcp::acceptor acceptor(context, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  LoopFailures failures("test accept loop", [](const std::string&) {});
  bool ended = false;
  net::co_spawn(
      context,
      [&]() -> Awaitable<void> {
        co_await acceptConnections(
            acceptor, context.get_executor(), [](Socket) {}, failures);
        ended = true;
      },
      net::detached);
  context.poll();  // the accept is pending
  acceptor.close();
  context.run();
  EXPECT_TRUE(ended);
  EXPECT_EQ(failures.count(), 0u);
}

TEST(LoopFailuresTest, ARepeatedFailureIsLoggedOncePerQuietPeriodWithTheCountOfTheOthers) {
  std::vector<std::string> logged;
  LoopFailures failures("worker 0 accept loop",
                        [&](const std::string& line) { logged.push_back(line); });
  const LoopFailures::Clock::time_point t0{};
  failures.report("accept failed: Too many open files", t0);
  failures.report("accept failed: Too many open files", t0 + std::chrono::seconds(1));
  failures.report("accept failed: Too many open files", t0 + std::chrono::seconds(9));
  failures.report("accept failed: Too many open files", t0 + std::chrono::seconds(10));
  failures.report("accept failed: Too many open files", t0 + std::chrono::seconds(11));
  EXPECT_EQ(failures.count(), 5u);
  ASSERT_EQ(logged.size(), 2u);
  EXPECT_EQ(logged[0],
            "worker 0 accept loop: accept failed: Too many open files; the loop goes on");
  EXPECT_EQ(logged[1],
            "worker 0 accept loop: accept failed: Too many open files; the loop goes on (2 more "
            "failure(s) not logged since the last line)");
}

TEST(LoopFailuresTest, TheExceptionBeingHandledIsNamed) {
  std::vector<std::string> logged;
  LoopFailures failures("sweep", [&](const std::string& line) { logged.push_back(line); });
  const LoopFailures::Clock::time_point t0{};
  try {
    throw std::bad_alloc();
  } catch (...) {
    failures.reportCurrentException(t0);
  }
  try {
    throw 7;
  } catch (...) {
    failures.reportCurrentException(t0 + LoopFailures::kQuietPeriod);
  }
  ASSERT_EQ(logged.size(), 2u);
  EXPECT_EQ(logged[0], "sweep: exception: std::bad_alloc; the loop goes on");
  EXPECT_EQ(logged[1], "sweep: unknown exception; the loop goes on");
}

}  // namespace
}  // namespace spendgate::proxy
