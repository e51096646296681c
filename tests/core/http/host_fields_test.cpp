#include "core/http/host_fields.hpp"

#include <gtest/gtest.h>

namespace spendgate::core {
namespace {

TEST(HostFields, Http11NeedsExactlyOne) {
  EXPECT_TRUE(hostFieldsProblem(11, 1, false).empty());
  EXPECT_EQ(hostFieldsProblem(11, 0, false), "an HTTP/1.1 request without a Host header field");
  EXPECT_EQ(hostFieldsProblem(11, 2, false), "more than one Host header field");
}

TEST(HostFields, Http10MayHaveNoneButNotTwo) {
  EXPECT_TRUE(hostFieldsProblem(10, 0, false).empty());
  EXPECT_TRUE(hostFieldsProblem(10, 1, false).empty());
  EXPECT_EQ(hostFieldsProblem(10, 2, false), "more than one Host header field");
}

TEST(HostFields, AnAbsoluteFormTargetNamesTheHostItself) {
  // As nginx: the request line's host stands in for the field; two fields are still refused.
  EXPECT_TRUE(hostFieldsProblem(11, 0, true).empty());
  EXPECT_EQ(hostFieldsProblem(11, 3, true), "more than one Host header field");
}

}  // namespace
}  // namespace spendgate::core
