#include "proxy/server/io_deadline.hpp"

#include <gtest/gtest.h>

#include <boost/asio/error.hpp>

namespace spendgate::proxy {
namespace {

using namespace std::chrono_literals;
using Clock = IoDeadline::Clock;

const Clock::time_point kT0 = Clock::time_point(100s);

TEST(IoDeadline, UnarmedNeverExpires) {
  IoDeadline deadline;
  EXPECT_FALSE(deadline.expire(Clock::time_point::max()));
  EXPECT_FALSE(deadline.expired());
  EXPECT_EQ(deadline.finish({}), beast::error_code{});
}

TEST(IoDeadline, DoesNotFireBeforeItsTime) {
  IoDeadline deadline;
  deadline.arm(kT0 + 1s);
  EXPECT_FALSE(deadline.expire(kT0));
  EXPECT_FALSE(deadline.expire(kT0 + 999ms));
  const beast::error_code eof = net::error::eof;
  EXPECT_EQ(deadline.finish(eof), eof);  // the operation's own error is kept
}

TEST(IoDeadline, FiresOnceAndTurnsTheAbortIntoTimeout) {
  IoDeadline deadline;
  deadline.arm(kT0 + 1s);
  EXPECT_TRUE(deadline.expire(kT0 + 1s));
  EXPECT_FALSE(deadline.expire(kT0 + 2s));  // the sweep closes the socket once
  EXPECT_TRUE(deadline.expired());
  EXPECT_EQ(deadline.finish(net::error::operation_aborted),
            beast::error_code(beast::error::timeout));
}

TEST(IoDeadline, FinishDisarms) {
  IoDeadline deadline;
  deadline.arm(kT0 + 1s);
  EXPECT_EQ(deadline.finish({}), beast::error_code{});
  EXPECT_FALSE(deadline.expire(kT0 + 1h));  // no operation pending: nothing to end
}

TEST(IoDeadline, RearmingMovesTheDeadline) {
  IoDeadline deadline;
  deadline.arm(kT0 + 1s);
  deadline.arm(kT0 + 5s);
  EXPECT_FALSE(deadline.expire(kT0 + 2s));
  EXPECT_TRUE(deadline.expire(kT0 + 5s));
}

TEST(IoDeadline, ClosingDeadlineStaysFired) {
  IoDeadline deadline;
  deadline.arm(kT0 + 1s);
  ASSERT_TRUE(deadline.expire(kT0 + 1s));
  EXPECT_FALSE(deadline.cancels());
  EXPECT_EQ(deadline.finish(net::error::operation_aborted),
            beast::error_code(beast::error::timeout));
  deadline.arm(kT0 + 10s);  // the socket is closed: whatever comes next timed out too
  EXPECT_EQ(deadline.finish({}), beast::error_code(beast::error::timeout));
}

TEST(IoDeadline, CancellingDeadlineIsOverOnceFinished) {
  IoDeadline deadline;
  deadline.arm(kT0 + 1s, IoDeadline::OnExpiry::Cancel);
  ASSERT_TRUE(deadline.expire(kT0 + 1s));
  EXPECT_TRUE(deadline.cancels());
  EXPECT_EQ(deadline.finish(net::error::operation_aborted),
            beast::error_code(beast::error::timeout));
  // The socket is still open: the answer to the timeout is written under a fresh deadline.
  EXPECT_FALSE(deadline.expired());
  deadline.arm(kT0 + 10s);
  EXPECT_FALSE(deadline.cancels());
  EXPECT_FALSE(deadline.expire(kT0 + 5s));
  EXPECT_EQ(deadline.finish({}), beast::error_code{});
}

}  // namespace
}  // namespace spendgate::proxy
