#include "proxy/relay/wire_format.hpp"

#include <gtest/gtest.h>

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

namespace spendgate::proxy {
namespace {

namespace http = boost::beast::http;

TEST(WireFormatTest, RequestHeadParsesBackToTheSameMessage) {
  http::request<http::string_body> request{http::verb::post, "/v1/chat/completions?x=1", 11};
  request.set(http::field::host, "api.openai.com");
  request.set(http::field::authorization, "Bearer sk-test");
  request.set("X-Custom", "a b");
  request.body() = R"({"model":"gpt-4o-mini"})";
  request.prepare_payload();

  std::string wire;
  appendRequestHead(wire, request);
  EXPECT_TRUE(wire.starts_with("POST /v1/chat/completions?x=1 HTTP/1.1\r\n"));
  EXPECT_TRUE(wire.ends_with("\r\n\r\n"));
  wire += request.body();

  http::request_parser<http::string_body> parser;
  boost::system::error_code ec;
  std::string_view rest = wire;
  while (!rest.empty() && !parser.is_done()) {
    const auto used = parser.put(boost::asio::buffer(rest.data(), rest.size()), ec);
    ASSERT_FALSE(ec) << ec.message();
    rest.remove_prefix(used);
  }
  ASSERT_TRUE(parser.is_done());
  const auto& parsed = parser.get();
  EXPECT_EQ(parsed[http::field::authorization], "Bearer sk-test");
  EXPECT_EQ(parsed["x-custom"], "a b");
  EXPECT_EQ(parsed.body(), request.body());
}

TEST(WireFormatTest, ResponseHeadKeepsTheUpstreamReasonOrUsesTheStandardOne) {
  http::response_header<> head;
  head.result(429);
  head.set(http::field::content_type, "application/json");
  std::string wire;
  appendResponseHead(wire, head);
  EXPECT_EQ(wire, "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n\r\n");

  head.reason("Slow Down");
  wire.clear();
  appendResponseHead(wire, head);
  EXPECT_TRUE(wire.starts_with("HTTP/1.1 429 Slow Down\r\n"));
}

TEST(WireFormatTest, OwnHeaderLinesFollowTheUpstreamFields) {
  http::response_header<> head;
  head.result(200);
  head.set(http::field::content_type, "application/json");
  std::string own;
  appendHeaderLine(own, "x-spendgate-request-id", "req_1");
  appendHeaderLine(own, "x-spendgate-cost-usd", "0.000012");
  std::string wire;
  appendResponseHead(wire, head, own);
  EXPECT_EQ(wire,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            "x-spendgate-request-id: req_1\r\nx-spendgate-cost-usd: 0.000012\r\n\r\n");
}

TEST(WireFormatTest, EraseFieldsNamedDropsEveryCopyWhateverItsCase) {
  http::fields fields;
  fields.insert("X-RateLimit-Limit-Requests", "60");
  fields.insert("x-ratelimit-limit-requests", "61");
  fields.insert("x-ratelimit-limit-tokens", "1000");
  fields.insert(http::field::content_type, "text/plain");
  fields.insert("X-Spendgate-Cost-Usd", "9");
  static constexpr std::string_view kNames[] = {"x-ratelimit-limit-requests",
                                                "x-spendgate-cost-usd"};
  eraseFieldsNamed(fields, kNames);
  std::vector<std::string> left;
  for (const auto& field : fields) left.emplace_back(field.name_string());
  EXPECT_EQ(left, (std::vector<std::string>{"x-ratelimit-limit-tokens", "Content-Type"}));
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
