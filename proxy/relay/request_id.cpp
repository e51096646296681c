#include "proxy/relay/request_id.hpp"

#include <array>
#include <cstring>
#include <random>

namespace spendgate::proxy {

namespace {

/** For each byte, its two hex digits, low nibble first (the order the id spells nibbles in). */
constexpr std::array<char, 512> kByteDigits = [] {
  constexpr char kHex[] = "0123456789abcdef";
  std::array<char, 512> table{};
  for (std::size_t byte = 0; byte < 256; ++byte) {
    table[2 * byte] = kHex[byte & 0xf];
    table[2 * byte + 1] = kHex[byte >> 4];
  }
  return table;
}();

}  // namespace

void formatRequestId(char* out, std::uint64_t a, std::uint64_t b) {
  std::memcpy(out, "req_", 4);
  char* p = out + 4;
  // Two digits per byte from the table: eight bytes of `a`, the low four of `b`.
  for (int i = 0; i < 8; ++i) std::memcpy(p + 2 * i, &kByteDigits[2 * ((a >> (8 * i)) & 0xff)], 2);
  p += 16;
  for (int i = 0; i < 4; ++i) std::memcpy(p + 2 * i, &kByteDigits[2 * ((b >> (8 * i)) & 0xff)], 2);
}

std::string newRequestId() {
  std::string id;
  newRequestId(id);
  return id;
}

void newRequestId(std::string& id) {
  // One generator per thread: no locking on the request path.
  thread_local std::mt19937_64 generator{std::random_device{}()};
  const std::uint64_t a = generator();
  const std::uint64_t b = generator();
  char text[kRequestIdChars];
  formatRequestId(text, a, b);
  id.assign(text, kRequestIdChars);
}

}  // namespace spendgate::proxy
