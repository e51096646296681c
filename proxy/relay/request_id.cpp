#include "proxy/relay/request_id.hpp"

#include <random>

namespace spendgate::proxy {

std::string newRequestId() {
  std::string id;
  newRequestId(id);
  return id;
}

void newRequestId(std::string& id) {
  // One generator per thread: no locking on the request path.
  thread_local std::mt19937_64 generator{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  id.assign("req_");
  id.resize(4 + 24);
  const std::uint64_t a = generator();
  const std::uint64_t b = generator();
  for (int i = 0; i < 16; ++i) id[4 + i] = kHex[(a >> (i * 4)) & 0xf];
  for (int i = 0; i < 8; ++i) id[20 + i] = kHex[(b >> (i * 4)) & 0xf];
}

}  // namespace spendgate::proxy
