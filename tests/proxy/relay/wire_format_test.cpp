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

TEST(WireFormatTest, HeaderLinesOfEveryLengthAreNameColonSpaceValue) {
  // Short lines are put together on the stack (short copies of 0 to 32 bytes and longer) and
  // appended in one go, lines over 256 bytes written in place: every length on both sides.
  std::string out = "kept";
  std::string expected = "kept";
  for (std::size_t name_size = 0; name_size <= 40; ++name_size) {
    for (std::size_t value_size = 0; value_size <= 300; value_size += name_size % 2 == 0 ? 1 : 7) {
      std::string name(name_size, 'n');
      std::string value(value_size, 'v');
      for (std::size_t i = 0; i < name_size; ++i) name[i] = static_cast<char>('a' + i % 26);
      for (std::size_t i = 0; i < value_size; ++i) value[i] = static_cast<char>('0' + i % 10);
      appendHeaderLine(out, name, value);
      expected += name + ": " + value + "\r\n";
      ASSERT_EQ(out, expected) << name_size << " " << value_size;
      if (out.size() > 4096) {
        out.assign("x");  // keeps its capacity
        expected.assign("x");
      }
    }
  }
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
