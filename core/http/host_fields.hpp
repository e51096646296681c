#pragma once

#include <cstddef>
#include <string_view>

namespace spendgate::core {

/**
 * Whether a request's Host fields make it malformed (RFC 9112 §3.2: a server answers 400 to an
 * HTTP/1.1 request without Host, and to any request with more than one). As nginx, a request line
 * in absolute form names the host itself, so it may come without a Host field.
 * @param version the request's version, 10 or 11
 * @param host_fields how many Host field lines the head has
 * @param absolute_form whether the request target was in absolute form
 * @return what is wrong, for the 400's message; empty when nothing is
 */
std::string_view hostFieldsProblem(unsigned version, std::size_t host_fields, bool absolute_form);

}  // namespace spendgate::core
