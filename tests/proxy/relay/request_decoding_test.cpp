#include "proxy/relay/request_decoding.hpp"

#include <brotli/encode.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace spendgate::proxy {
namespace {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;

/** gzip (window_bits MAX_WBITS + 16), zlib (MAX_WBITS) or raw deflate (-MAX_WBITS). */
std::string deflateWith(std::string_view plain, int window_bits) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 9, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, plain.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(plain.data()));
  zs.avail_in = static_cast<uInt>(plain.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string gzip(std::string_view plain) { return deflateWith(plain, MAX_WBITS + 16); }

std::string brotli(std::string_view plain) {
  std::size_t size = BrotliEncoderMaxCompressedSize(plain.size());
  std::string out(size, '\0');
  EXPECT_TRUE(BrotliEncoderCompress(5, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_GENERIC, plain.size(),
                                    reinterpret_cast<const std::uint8_t*>(plain.data()), &size,
                                    reinterpret_cast<std::uint8_t*>(out.data())));
  out.resize(size);
  return out;
}

const std::string kChat =
    R"({"model":"gpt-4o","max_tokens":50,"messages":[{"role":"user","content":"hi"}]})";

Request post(std::string body, std::string_view content_encoding = "") {
  Request request{http::verb::post, "/v1/chat/completions", 11};
  request.set(http::field::content_type, "application/json");
  if (!content_encoding.empty()) request.set(http::field::content_encoding, content_encoding);
  request.body() = std::move(body);
  request.prepare_payload();
  return request;
}

TEST(RequestDecodingTest, PlainAndIdentityRequestsStayAsTheyAre) {
  for (const char* coding : {"", "identity", "Identity, identity"}) {
    Request request = post(kChat, coding);
    EXPECT_EQ(decodeRequestContent(request, 1 << 20), std::nullopt) << coding;
    EXPECT_EQ(request.body(), kChat);
    EXPECT_EQ(request[http::field::content_encoding], coding);
  }
}

TEST(RequestDecodingTest, EveryReadableCodingBecomesThePlainBody) {
  const std::pair<const char*, std::string> cases[] = {
      {"gzip", gzip(kChat)},
      {"x-gzip", gzip(kChat)},
      {"GZIP", gzip(kChat)},
      {"deflate", deflateWith(kChat, MAX_WBITS)},
      {"deflate", deflateWith(kChat, -MAX_WBITS)},
      {"br", brotli(kChat)},
      {"gzip, br", brotli(gzip(kChat))},
      {"identity, gzip", gzip(kChat)},
  };
  for (const auto& [coding, encoded] : cases) {
    SCOPED_TRACE(coding);
    Request request = post(encoded, coding);
    request.set(http::field::content_md5, "stale");
    request.set("Content-Digest", "sha-256=:stale:");
    request.set("Repr-Digest", "sha-256=:stale:");
    request.set(http::field::digest, "SHA-256=stale");
    EXPECT_EQ(decodeRequestContent(request, 1 << 20), std::nullopt);
    EXPECT_EQ(request.body(), kChat);
    EXPECT_EQ(request.count(http::field::content_encoding), 0u);
    EXPECT_EQ(request.count(http::field::content_md5), 0u);
    EXPECT_EQ(request.count("Content-Digest"), 0u);
    EXPECT_EQ(request.count("Repr-Digest"), 0u);
    EXPECT_EQ(request.count(http::field::digest), 0u);
    EXPECT_EQ(request[http::field::content_type], "application/json");
  }
}

TEST(RequestDecodingTest, SeveralContentEncodingFieldsAreOneList) {
  // gzip applied first, then br, named in two fields.
  Request request = post(brotli(gzip(kChat)), "gzip");
  request.insert(http::field::content_encoding, "br");
  EXPECT_EQ(decodeRequestContent(request, 1 << 20), std::nullopt);
  EXPECT_EQ(request.body(), kChat);
  EXPECT_EQ(request.count(http::field::content_encoding), 0u);
}

TEST(RequestDecodingTest, AnEmptyBodyHasNothingToDecode) {
  Request request = post("", "gzip");
  EXPECT_EQ(decodeRequestContent(request, 1 << 20), std::nullopt);
  EXPECT_EQ(request.body(), "");
}

TEST(RequestDecodingTest, CodingsItCannotUndoAre415AndChangeNothing) {
  for (const char* coding : {"zstd", "compress", "gzip, zstd", "gzip, gzip, gzip, gzip"}) {
    SCOPED_TRACE(coding);
    const std::string encoded = gzip(kChat);
    Request request = post(encoded, coding);
    const auto error = decodeRequestContent(request, 1 << 20);
    ASSERT_TRUE(error.has_value());
    EXPECT_EQ(error->error, core::ProxyError::UnsupportedEncoding);
    EXPECT_NE(error->message.find(coding), std::string::npos) << error->message;
    EXPECT_EQ(request.body(), encoded);
    EXPECT_EQ(request[http::field::content_encoding], coding);
  }
}

TEST(RequestDecodingTest, CorruptOrTruncatedStreamsAre400) {
  std::string flipped = gzip(kChat);
  flipped[flipped.size() - 6] ^= 0x01;  // the CRC32 in the trailer
  const std::string whole = brotli(kChat);
  const std::pair<const char*, std::string> cases[] = {
      {"gzip", kChat},  // says gzip, is plain JSON
      {"gzip", flipped},
      {"gzip", gzip(kChat).substr(0, 20)},
      {"br", whole.substr(0, whole.size() - 2)},
      {"deflate", std::string(64, '\xff')},
  };
  for (const auto& [coding, encoded] : cases) {
    SCOPED_TRACE(coding);
    Request request = post(encoded, coding);
    const auto error = decodeRequestContent(request, 1 << 20);
    ASSERT_TRUE(error.has_value());
    EXPECT_EQ(error->error, core::ProxyError::BadRequest);
    EXPECT_NE(error->message.find("does not decode"), std::string::npos) << error->message;
    EXPECT_EQ(request.body(), encoded);
    EXPECT_EQ(request[http::field::content_encoding], coding);
  }
}

TEST(RequestDecodingTest, DecodedSizeIsBoundedByMaxBodyBytes) {
  const std::string padded = R"({"model":"gpt-4o","pad":")" + std::string(100000, 'a') + "\"}";
  Request exact = post(gzip(padded), "gzip");
  EXPECT_EQ(decodeRequestContent(exact, padded.size()), std::nullopt);
  EXPECT_EQ(exact.body(), padded);

  for (const char* coding : {"gzip", "br"}) {
    SCOPED_TRACE(coding);
    const std::string encoded = std::string_view(coding) == "gzip" ? gzip(padded) : brotli(padded);
    ASSERT_LT(encoded.size(), 1000u);  // a small body that grows 100-fold: a bomb in miniature
    Request request = post(encoded, coding);
    const auto error = decodeRequestContent(request, padded.size() - 1);
    ASSERT_TRUE(error.has_value());
    EXPECT_EQ(error->error, core::ProxyError::BodyTooLarge);
    EXPECT_NE(error->message.find(std::to_string(padded.size() - 1)), std::string::npos)
        << error->message;
    EXPECT_EQ(request.body(), encoded);
  }
}

}  // namespace
}  // namespace spendgate::proxy
