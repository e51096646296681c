#pragma once

#include <cstdint>
#include <string>

namespace spendgate::proxy {

/** What the access log says about one request. Never holds credentials. */
struct RequestRecord {
  std::string request_id;
  std::string method;
  std::string target;  // query credentials already redacted
  std::string provider;
  int status = 0;  // 499: the client left before the answer was complete
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  double upstream_ms = 0;
  double total_ms = 0;
  bool stream = false;
  std::string error;  // why the proxy failed the request, empty on success

  /** Back to a new record's values, the strings keeping their capacity (reused per connection). */
  void clear() {
    request_id.clear();
    method.clear();
    target.clear();
    provider.clear();
    status = 0;
    bytes_in = 0;
    bytes_out = 0;
    upstream_ms = 0;
    total_ms = 0;
    stream = false;
    error.clear();
  }

  friend bool operator==(const RequestRecord&, const RequestRecord&) = default;
};

}  // namespace spendgate::proxy
