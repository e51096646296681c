#include "core/http/request_line_version.hpp"

namespace spendgate::core {

namespace {

bool isDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

RequestLineVersion readRequestLineVersion(std::string_view head) {
  RequestLineVersion out;
  const auto end = head.find("\r\n");
  if (end == std::string_view::npos) return out;
  const std::string_view line = head.substr(0, end);
  constexpr std::size_t kVersionSize = 8;  // HTTP/D.D
  // At least "M T HTTP/D.D": a method and a target before it, each followed by one space.
  if (line.size() < kVersionSize + 4) return out;
  const std::size_t at = line.size() - kVersionSize;
  const std::string_view version = line.substr(at);
  // Exactly two spaces: after the method and after the target (which has none of its own).
  const std::size_t first_space = line.find(' ');
  if (line[at - 1] != ' ' || first_space >= at - 2 || line.find(' ', first_space + 1) != at - 1 ||
      version.substr(0, 5) != "HTTP/" || !isDigit(version[5]) || version[6] != '.' ||
      !isDigit(version[7])) {
    return out;
  }
  out.major_at = at + 5;
  out.major = version[5];
  out.minor = version[7];
  if (out.major != '1') {
    out.kind = RequestLineVersion::Kind::UnsupportedMajor;
  } else if (out.minor == '0' || out.minor == '1') {
    out.kind = RequestLineVersion::Kind::Supported;
  } else {
    out.kind = RequestLineVersion::Kind::HigherMinor;
  }
  return out;
}

}  // namespace spendgate::core
