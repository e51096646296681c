#include "core/http/url_port.hpp"

#include <gtest/gtest.h>

namespace spendgate::core {
namespace {

TEST(UrlPort, OneTo65535Only) {
  EXPECT_EQ(urlPort("1"), 1);
  EXPECT_EQ(urlPort("443"), 443);
  EXPECT_EQ(urlPort("08080"), 8080);
  EXPECT_EQ(urlPort("65535"), 65535);
  // Boost.URL's port_number() reads these as 18801, 0 and 4464: never a port here.
  for (const char* bad : {"84337", "65536", "70000", "99999", "100000", "0", "", "-1", "+80", "8a",
                          " 80", "123456"}) {
    EXPECT_EQ(urlPort(bad), std::nullopt) << bad;
  }
}

}  // namespace
}  // namespace spendgate::core
