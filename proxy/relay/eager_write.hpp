#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <chrono>
#include <cstddef>
#include <tuple>

#include "proxy/net.hpp"
#include "proxy/server/io_deadline.hpp"

namespace spendgate::proxy {

/**
 * Writes all of `buffers` to a plain TCP socket: first at once, with one non-blocking send on
 * the caller's turn, then, only for what the socket did not take, asynchronously under
 * `deadline` (armed to `at` for that part only). Most answers and requests fit the socket
 * buffer, so most writes complete without a completion handler or a trip through the
 * scheduler. The socket must have been set to non-blocking mode (non_blocking(true)).
 * @return the error (none, or the first one; beast::error::timeout if the deadline fired) and
 * the bytes written
 */
template <class PlainSocket, class ConstBufferSequence>
Awaitable<std::tuple<beast::error_code, std::size_t>> eagerWrite(
    PlainSocket& socket,
    const ConstBufferSequence& buffers,
    IoDeadline& deadline,
    std::chrono::steady_clock::time_point at) {
  beast::error_code ec;
  const std::size_t total = net::buffer_size(buffers);
  const std::size_t written = total == 0 ? 0 : socket.write_some(buffers, ec);
  if (!ec && written == total) co_return std::tuple{ec, written};
  if (ec && ec != net::error::would_block && ec != net::error::try_again) {
    co_return std::tuple{deadline.finish(ec), written};
  }
  beast::buffers_suffix<ConstBufferSequence> rest(buffers);
  rest.consume(written);
  deadline.arm(at);
  auto [wec, n] = co_await net::async_write(socket, rest, use_nothrow);
  co_return std::tuple{deadline.finish(wec), written + n};
}

}  // namespace spendgate::proxy
