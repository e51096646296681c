#pragma once

#include <chrono>
#include <string_view>

#include "core/http/http_date.hpp"

namespace spendgate::proxy {

/**
 * The Date header value for answers the proxy makes itself (both ports), as nginx sends one:
 * formatted once per second per thread, not per answer.
 */
inline std::string_view ownAnswerDate() {
  thread_local core::HttpDateCache dates;
  return dates.at(std::chrono::system_clock::now());
}

}  // namespace spendgate::proxy
