#include "proxy/relay/wire_format.hpp"

#include <gtest/gtest.h>

#include <string>

namespace spendgate::proxy {
namespace {

TEST(WireFormatTest, HeaderLinesAreNameColonSpaceValue) {
  std::string out;
  appendHeaderLine(out, "x-spendgate-request-id", "req_1");
  appendHeaderLine(out, "Content-Length", "0");
  EXPECT_EQ(out, "x-spendgate-request-id: req_1\r\nContent-Length: 0\r\n");
}

TEST(WireFormatTest, ChunkSizesAreLowerHex) {
  std::string out;
  appendChunkSize(out, 0);
  appendChunkSize(out, 15);
  appendChunkSize(out, 16);
  appendChunkSize(out, 0x1a2f);
  EXPECT_EQ(out, "0\r\nf\r\n10\r\n1a2f\r\n");
}

}  // namespace
}  // namespace spendgate::proxy
