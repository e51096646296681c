#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <cstddef>
#include <tuple>

#include "proxy/net.hpp"

namespace spendgate::proxy {

/**
 * Writes all of `buffers` to a plain TCP stream: first at once, with one non-blocking send on
 * the caller's turn, then, only for what the socket did not take, asynchronously with
 * `deadline`. Most answers and requests fit the socket buffer, so most writes complete without
 * a completion handler, a trip through the scheduler or a timer. The socket must have been
 * set to non-blocking mode (socket().non_blocking(true)).
 * @return the error (none, or the first one) and the bytes written
 */
template <class ConstBufferSequence>
net::awaitable<std::tuple<beast::error_code, std::size_t>> eagerWrite(
    beast::tcp_stream& stream,
    const ConstBufferSequence& buffers,
    std::chrono::steady_clock::time_point deadline) {
  beast::error_code ec;
  const std::size_t total = net::buffer_size(buffers);
  const std::size_t written = total == 0 ? 0 : stream.socket().write_some(buffers, ec);
  if (!ec && written == total) co_return std::tuple{ec, written};
  if (ec && ec != net::error::would_block && ec != net::error::try_again) {
    co_return std::tuple{ec, written};
  }
  beast::buffers_suffix<ConstBufferSequence> rest(buffers);
  rest.consume(written);
  stream.expires_at(deadline);
  auto [wec, n] = co_await net::async_write(stream, rest, use_nothrow);
  co_return std::tuple{wec, written + n};
}

}  // namespace spendgate::proxy
