#include "core/http/host_fields.hpp"

namespace spendgate::core {

std::string_view hostFieldsProblem(unsigned version, std::size_t host_fields, bool absolute_form) {
  if (host_fields > 1) return "more than one Host header field";
  if (host_fields == 0 && version >= 11 && !absolute_form) {
    return "an HTTP/1.1 request without a Host header field";
  }
  return {};
}

}  // namespace spendgate::core
