#pragma once

#include <functional>
#include <string>

#include "proxy/net.hpp"

namespace spendgate::proxy {

/**
 * Runs `context` until it runs out of work (or is stopped). An exception out of a handler, which
 * asio lets through run(), is reported to `report` and the loop goes on: one connection's failure
 * (an exception inside a composed operation never reaches its coroutine) must not end the process
 * and lose every other request in flight. The failed handler's coroutine is destroyed with it; a
 * ClientSession's then settles its request as its frame is unwound (AbandonOnUnwind).
 */
void runCatching(net::io_context& context, const std::function<void(const std::string&)>& report);

}  // namespace spendgate::proxy
