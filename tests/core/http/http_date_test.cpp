#include "core/http/http_date.hpp"

#include <gtest/gtest.h>

namespace spendgate::core {
namespace {

using std::chrono::system_clock;

system_clock::time_point at(std::int64_t seconds, std::int64_t millis = 0) {
  return system_clock::time_point{std::chrono::seconds(seconds) +
                                  std::chrono::milliseconds(millis)};
}

TEST(HttpDateTest, ImfFixdate) {
  EXPECT_EQ(formatHttpDate(at(784111777)), "Sun, 06 Nov 1994 08:49:37 GMT");  // RFC 9110's example
  EXPECT_EQ(formatHttpDate(at(0)), "Thu, 01 Jan 1970 00:00:00 GMT");
  EXPECT_EQ(formatHttpDate(at(951782400, 999)), "Tue, 29 Feb 2000 00:00:00 GMT");  // leap day
  EXPECT_EQ(formatHttpDate(at(1798761599)), "Thu, 31 Dec 2026 23:59:59 GMT");
}

TEST(HttpDateTest, CacheFormatsOncePerSecond) {
  HttpDateCache cache;
  const std::string_view first = cache.at(at(784111777, 10));
  EXPECT_EQ(first, "Sun, 06 Nov 1994 08:49:37 GMT");
  // The same second: the same text, not formatted again.
  EXPECT_EQ(cache.at(at(784111777, 990)).data(), first.data());
  EXPECT_EQ(cache.at(at(784111778)), "Sun, 06 Nov 1994 08:49:38 GMT");
  EXPECT_EQ(cache.at(at(0)), "Thu, 01 Jan 1970 00:00:00 GMT");  // clocks may step back
}

}  // namespace
}  // namespace spendgate::core
