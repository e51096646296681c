#include "proxy/logging/request_record.hpp"

#include <gtest/gtest.h>

namespace spendgate::proxy {
namespace {

// The session reuses one record for a connection's requests: clear() must leave nothing of the
// request before.
TEST(RequestRecordTest, ClearedIsNew) {
  RequestRecord record;
  record.request_id = "req_0123456789abcdef01234567";
  record.method = "PROPFIND-A-LONG-METHOD";
  record.target = "/v1/chat/completions?alt=sse&key=REDACTED";
  record.provider = "a-provider-with-a-long-name";
  record.status = 499;
  record.bytes_in = 1;
  record.bytes_out = 2;
  record.upstream_ms = 3.5;
  record.total_ms = 4.5;
  record.stream = true;
  record.error = "client closed the connection mid-body: end of stream";
  record.clear();
  EXPECT_EQ(record, RequestRecord{});
}

}  // namespace
}  // namespace spendgate::proxy
