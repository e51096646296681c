#pragma once

#include <cstddef>
#include <string_view>

namespace spendgate::core {

/**
 * The HTTP-version of a request line Beast refused (it reads only HTTP/1.0 and HTTP/1.1, and
 * answers any other as bad_version, as it does a version that is not one at all).
 */
struct RequestLineVersion {
  enum class Kind {
    NotAVersion,       // no `HTTP/` DIGIT `.` DIGIT before the line's CRLF: a malformed line (400)
    Supported,         // HTTP/1.0 or HTTP/1.1
    HigherMinor,       // HTTP/1.2 to 1.9: read as HTTP/1.1 (RFC 9112 §2.3)
    UnsupportedMajor,  // HTTP/0.x, HTTP/2.0 to 9.9: 505 (RFC 9110 §15.6.6)
  };
  Kind kind = Kind::NotAVersion;
  std::size_t major_at = 0;  // offset of the major digit in the bytes read
  char major = 0;            // the digits as sent
  char minor = 0;
};

/**
 * Reads the version of the request line at the start of `head` (RFC 9112 §3: method SP
 * request-target SP HTTP-version CRLF, the version being `HTTP/` DIGIT `.` DIGIT).
 * @return NotAVersion unless the first line is complete and ends in a well-formed version
 */
RequestLineVersion readRequestLineVersion(std::string_view head);

}  // namespace spendgate::core
