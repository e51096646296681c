#include "core/http/request_line_version.hpp"

#include <gtest/gtest.h>

namespace spendgate::core {
namespace {

using Kind = RequestLineVersion::Kind;

TEST(RequestLineVersion, ReadsTheVersionAtTheLinesEnd) {
  const auto v = readRequestLineVersion("GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(v.kind, Kind::Supported);
  EXPECT_EQ(v.major_at, 20u);
  EXPECT_EQ(v.major, '1');
  EXPECT_EQ(v.minor, '1');
  EXPECT_EQ(readRequestLineVersion("GET / HTTP/1.0\r\n").kind, Kind::Supported);
}

TEST(RequestLineVersion, AnotherMajorIsUnsupported) {
  for (const char* head :
       {"GET /v1/models HTTP/9.9\r\n\r\n", "GET / HTTP/2.0\r\n", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        "GET / HTTP/0.9\r\n", "GET / HTTP/3.1\r\n"}) {
    const auto v = readRequestLineVersion(head);
    EXPECT_EQ(v.kind, Kind::UnsupportedMajor) << head;
  }
  const auto v = readRequestLineVersion("POST /v1/x HTTP/2.0\r\n");
  EXPECT_EQ(v.major_at, 16u);
  EXPECT_EQ(v.major, '2');
  EXPECT_EQ(v.minor, '0');
}

TEST(RequestLineVersion, AHigherMinorOfHttp1IsReadAs11) {
  for (const char* head : {"GET / HTTP/1.2\r\n", "GET /v1/models HTTP/1.9\r\nHost: x\r\n\r\n"}) {
    EXPECT_EQ(readRequestLineVersion(head).kind, Kind::HigherMinor) << head;
  }
}

TEST(RequestLineVersion, WhatIsNoVersionIsMalformed) {
  for (const char* head :
       {"GET / HTTP/1.1", "GET / HTTP/2\r\n", "GET / HTTP/10.0\r\n", "GET / http/1.1\r\n",
        "GET / HTTP/1.1 \r\n", "GET /  HTTP/x.1\r\n", "GET / HTTP/1.x\r\n", "GET HTTP/2.0\r\n",
        "GET  HTTP/2.0\r\n", "HTTP/2.0\r\n", "GARBAGE\r\n\r\n", "", "GET / HTTP/2.0\n\n",
        "GET / HTTPS/2.0\r\n", "GET /a HTTP/1.1 HTTP/2.0\r\n", "GET /a b HTTP/2.0\r\n",
        "GET  / HTTP/2.0\r\n"}) {
    EXPECT_EQ(readRequestLineVersion(head).kind, Kind::NotAVersion) << head;
  }
}

}  // namespace
}  // namespace spendgate::core
