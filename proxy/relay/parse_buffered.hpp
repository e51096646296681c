#pragma once

#include <boost/beast/http/error.hpp>
#include <cstddef>

#include "proxy/net.hpp"

namespace spendgate::proxy {

/**
 * Feeds Beast's `parser` what `buffer` already holds, as http::async_read and async_read_some
 * would first do. Those complete through a posted handler (a trip through the scheduler and a
 * coroutine resumption) even when the bytes were already there, which is the usual case for a
 * request body that came with its head and an answer body that came with its header.
 * Stops when the message is done, the buffer is used up, or the parser reports an error
 * (http::error::need_buffer: a buffer_body is full).
 * @return the bytes consumed; `ec` is http::error::need_more if the buffer ran out first
 */
template <class Parser, class DynamicBuffer>
std::size_t parseBuffered(Parser& parser, DynamicBuffer& buffer, beast::error_code& ec) {
  ec = {};
  std::size_t total = 0;
  while (!parser.is_done() && buffer.size() > 0) {
    const std::size_t used = parser.put(buffer.data(), ec);
    buffer.consume(used);
    total += used;
    if (ec || used == 0) break;
  }
  if (!ec && !parser.is_done()) ec = beast::http::error::need_more;
  return total;
}

}  // namespace spendgate::proxy
