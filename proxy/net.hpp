#pragma once

// Short names for the Asio/Beast namespaces used across proxy/ (as in Beast's chat-multi example).
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace boost::beast {}
namespace boost::asio::ssl {}

namespace spendgate::proxy {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;

// The executor of a worker's sockets: concrete, so their asynchronous operations skip
// any_io_executor's type erasure (copies, indirect calls) for their work tracking.
using Executor = net::io_context::executor_type;
/** A TCP socket on a worker's io_context. */
using Socket = net::basic_stream_socket<tcp, Executor>;

/**
 * A coroutine on a worker's io_context: its completions resume it through the concrete
 * executor, not through any_io_executor's type erasure. The request path uses these.
 */
template <class T>
using Awaitable = net::awaitable<T, Executor>;
/** Completion token for Awaitable coroutines. */
inline constexpr net::use_awaitable_t<Executor> use_awaitable_exec{};

/** Completion token for Awaitable coroutines that report errors as values, never as exceptions. */
inline constexpr auto use_nothrow = net::as_tuple(use_awaitable_exec);
/** The same for net::awaitable (any_io_executor) coroutines: the admin server's. */
inline constexpr auto use_nothrow_any = net::as_tuple(net::use_awaitable);

}  // namespace spendgate::proxy
