#include "proxy/server/event_loop.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace spendgate::proxy {
namespace {

TEST(EventLoopTest, AHandlersExceptionIsReportedAndTheOtherHandlersStillRun) {
  // audit 14: an exception thrown inside one connection's read (Beast's basic_fields on a field
  // over 64 KiB) went through io_context::run and ended the process.
  net::io_context context;
  std::vector<std::string> reports;
  int ran = 0;
  net::post(context, [&] { ++ran; });
  net::post(context, [] { throw std::length_error("field value too large"); });
  net::post(context, [&] { ++ran; });
  net::post(context, [] { throw 42; });
  net::post(context, [&] { ++ran; });
  runCatching(context, [&](const std::string& message) { reports.push_back(message); });
  EXPECT_EQ(ran, 3);
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[0], "a connection failed: field value too large");
  EXPECT_EQ(reports[1], "a connection failed: unknown exception");
  EXPECT_TRUE(context.stopped());  // returned because it ran out of work
}

}  // namespace
}  // namespace spendgate::proxy
