#include "proxy/relay/wire_format.hpp"

#include <algorithm>
#include <cstring>

#include "core/text/short_copy.hpp"

namespace spendgate::proxy {

void appendHeaderLine(std::string& out, std::string_view name, std::string_view value) {
  const std::size_t size = name.size() + value.size() + 4;
  // The line is put together on the stack (short copies without libc calls) and appended in
  // one go: one capacity check and one copy into `out`, where a resize would fill the new bytes
  // first. Growth stays geometric, as append's is.
  constexpr std::size_t kStackLine = 256;
  if (size <= kStackLine) {
    char line[kStackLine];
    char* p = line;
    core::copyShort(p, name.data(), name.size());
    p += name.size();
    std::memcpy(p, ": ", 2);
    p += 2;
    core::copyShort(p, value.data(), value.size());
    p += value.size();
    std::memcpy(p, "\r\n", 2);
    out.append(line, size);
    return;
  }
  const std::size_t at = out.size();
  if (out.capacity() - at < size) out.reserve(std::max(out.capacity() * 2, at + size));
  out.resize(at + size);
  char* p = out.data() + at;
  std::memcpy(p, name.data(), name.size());
  p += name.size();
  std::memcpy(p, ": ", 2);
  p += 2;
  std::memcpy(p, value.data(), value.size());
  p += value.size();
  std::memcpy(p, "\r\n", 2);
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
