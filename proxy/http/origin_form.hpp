#pragma once

#include "core/http/request_target.hpp"

namespace spendgate::proxy {

/**
 * Rewrites an absolute-form target (RFC 9112 §3.2.2, from clients set up to use a forward proxy)
 * to its path and query, so it is routed and forwarded as nginx does. Rare, so the common case
 * pays one test.
 * @return false when the target is neither a path nor an absolute URI with a host
 */
template <class Request>
bool toOriginForm(Request& request) {
  if (core::isOriginForm(request.target())) return true;
  const auto origin = core::originFormOf(request.target());
  if (!origin) return false;
  request.target(*origin);
  return true;
}

}  // namespace spendgate::proxy
