#include "core/http/transfer_coding.hpp"

#include <gtest/gtest.h>

namespace spendgate::core {
namespace {

TEST(TransferCoding, ChunkedAloneIsUnderstood) {
  for (const char* value : {"chunked", "Chunked", "CHUNKED", " chunked ", ", chunked", "chunked ,",
                            "\tchunked", ",,chunked,,"}) {
    EXPECT_TRUE(isChunkedAlone(value)) << value;
  }
}

TEST(TransferCoding, AnyOtherCodingIsNot) {
  // Beast frames "gzip, chunked" as chunked and drops the gzip; the others it does not frame as
  // chunked at all.
  for (const char* value : {"gzip, chunked", "gzip,chunked", "chunked, gzip", "chunked, chunked",
                            "identity", "gzip", "deflate, chunked", "x-custom, chunked",
                            "chunked;foo=bar", "chunkedx", "", " , ", "identity, chunked"}) {
    EXPECT_FALSE(isChunkedAlone(value)) << value;
  }
}

}  // namespace
}  // namespace spendgate::core
