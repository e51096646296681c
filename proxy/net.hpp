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

/** Completion token for coroutines that report errors as values, never as exceptions. */
inline constexpr auto use_nothrow = net::as_tuple(net::use_awaitable);

}  // namespace spendgate::proxy
