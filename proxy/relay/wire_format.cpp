#include "proxy/relay/wire_format.hpp"

namespace spendgate::proxy {

void appendHeaderLine(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out += ": ";
  out.append(value);
  out += "\r\n";
}

void appendChunkSize(std::string& out, std::size_t size) {
  static constexpr char kHex[] = "0123456789abcdef";
  char digits[16];
  int count = 0;
  do {
    digits[count++] = kHex[size & 0xf];
    size >>= 4;
  } while (size != 0);
  while (count > 0) out += digits[--count];
  out += "\r\n";
}

}  // namespace spendgate::proxy
