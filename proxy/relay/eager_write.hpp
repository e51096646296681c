#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <chrono>
#include <cstddef>

#include "proxy/net.hpp"
#include "proxy/server/io_deadline.hpp"

namespace spendgate::proxy {

/** How far writeAtOnce() got. */
struct EagerWrite {
  beast::error_code ec;  // none, or the first error (beast::error::timeout if the deadline fired)
  std::size_t written = 0;  // bytes written so far
  bool done = false;        // false: the rest must go through writeRest()
};

/**
 * Writes all of `buffers` to a plain TCP socket in two steps, so that the common case needs no
 * coroutine frame: writeAtOnce() makes one non-blocking send on the caller's turn; only when the
 * socket did not take everything does writeRest() write the rest asynchronously under
 * `deadline` (armed to `at` for that part only). Most answers and requests fit the socket
 * buffer, so most writes complete without a completion handler, a trip through the scheduler or
 * a frame. The socket must have been set to non-blocking mode (non_blocking(true)):
 *
 *   EagerWrite w = writeAtOnce(socket, buffers, deadline);
 *   if (!w.done) w = co_await writeRest(socket, buffers, w, deadline, at);
 */
template <class PlainSocket, class ConstBufferSequence>
EagerWrite writeAtOnce(PlainSocket& socket,
                       const ConstBufferSequence& buffers,
                       IoDeadline& deadline) {
  EagerWrite w;
  const std::size_t total = net::buffer_size(buffers);
  w.written = total == 0 ? 0 : socket.write_some(buffers, w.ec);
  if (!w.ec && w.written == total) {
    w.done = true;
  } else if (w.ec && w.ec != net::error::would_block && w.ec != net::error::try_again) {
    w.ec = deadline.finish(w.ec);
    w.done = true;
  } else {
    w.ec = {};
  }
  return w;
}

/** The asynchronous rest of a write writeAtOnce() did not finish (see there). */
template <class PlainSocket, class ConstBufferSequence>
Awaitable<EagerWrite> writeRest(PlainSocket& socket,
                                const ConstBufferSequence& buffers,
                                EagerWrite so_far,
                                IoDeadline& deadline,
                                std::chrono::steady_clock::time_point at) {
  beast::buffers_suffix<ConstBufferSequence> rest(buffers);
  rest.consume(so_far.written);
  deadline.arm(at);
  auto [wec, n] = co_await net::async_write(socket, rest, use_nothrow);
  co_return EagerWrite{deadline.finish(wec), so_far.written + n, true};
}

}  // namespace spendgate::proxy
