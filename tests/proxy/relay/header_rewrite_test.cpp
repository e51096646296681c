#include "proxy/relay/header_rewrite.hpp"

#include <gtest/gtest.h>

#include <boost/beast/http/field.hpp>

namespace spendgate::proxy {
namespace {

namespace http = boost::beast::http;

TEST(HeaderRewriteTest, StripsHopByHopAndHeadersNamedInConnection) {
  http::fields fields;
  fields.set(http::field::connection, "keep-alive, X-Trace-Hop");
  fields.insert(http::field::connection, "Upgrade");
  fields.set(http::field::keep_alive, "timeout=5");
  fields.set(http::field::transfer_encoding, "chunked");
  fields.set(http::field::te, "trailers");
  fields.set(http::field::trailer, "x-checksum");
  fields.set(http::field::upgrade, "websocket");
  fields.set(http::field::proxy_authorization, "Basic abc");
  fields.set("Proxy-Connection", "keep-alive");
  fields.set("X-Trace-Hop", "1");
  fields.set(http::field::authorization, "Bearer sk-test");
  fields.set("x-api-key", "sk-ant");
  fields.set("anthropic-version", "2023-06-01");

  stripHopByHop(fields);

  for (auto name : {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
                    "proxy-authorization", "proxy-connection", "x-trace-hop"}) {
    EXPECT_EQ(fields.count(name), 0u) << name;
  }
  EXPECT_EQ(fields[http::field::authorization], "Bearer sk-test");
  EXPECT_EQ(fields["x-api-key"], "sk-ant");
  EXPECT_EQ(fields["anthropic-version"], "2023-06-01");
}

TEST(HeaderRewriteTest, RequestGetsUpstreamHostIdentityEncodingAndNoExpect) {
  http::fields fields;
  fields.set(http::field::host, "127.0.0.1:8080");
  fields.set(http::field::accept_encoding, "gzip, br");
  fields.set(http::field::expect, "100-continue");
  fields.set(http::field::content_type, "application/json");

  rewriteRequestHeaders(fields, "api.openai.com");

  EXPECT_EQ(fields[http::field::host], "api.openai.com");
  EXPECT_EQ(fields[http::field::accept_encoding], "identity");
  EXPECT_EQ(fields.count(http::field::expect), 0u);
  EXPECT_EQ(fields[http::field::content_type], "application/json");
}

TEST(HeaderRewriteTest, RedactsKeyQueryParameters) {
  EXPECT_EQ(redactTarget("/v1beta/models/g:generateContent?key=AIzaSECRET&alt=sse"),
            "/v1beta/models/g:generateContent?key=REDACTED&alt=sse");
  EXPECT_EQ(redactTarget("/x?alt=sse&KEY=s&api-key=t"), "/x?alt=sse&KEY=REDACTED&api-key=REDACTED");
  EXPECT_EQ(redactTarget("/v1/chat/completions"), "/v1/chat/completions");
  EXPECT_EQ(redactTarget("/x?monkey=1"), "/x?monkey=1");
}

}  // namespace
}  // namespace spendgate::proxy
