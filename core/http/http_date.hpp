#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

namespace spendgate::core {

/** @return `time` as an IMF-fixdate (RFC 9110 §5.6.7), the Date header's form:
 * "Sun, 06 Nov 1994 08:49:37 GMT". */
std::string formatHttpDate(std::chrono::system_clock::time_point time);

/**
 * The Date header value of answers the proxy makes itself, formatted once per second rather
 * than once per answer. Not thread-safe: one per thread.
 */
class HttpDateCache {
public:
  /** @return the IMF-fixdate of `now`, valid until the next call. */
  std::string_view at(std::chrono::system_clock::time_point now);

private:
  std::int64_t second_ = std::numeric_limits<std::int64_t>::min();
  std::string text_;
};

}  // namespace spendgate::core
