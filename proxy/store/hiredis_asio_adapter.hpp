#pragma once

// Internal to RedisClient: the only header besides redis_client.cpp that sees hiredis types.

#include <hiredis/async.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <functional>
#include <memory>

#include "proxy/net.hpp"

namespace spendgate::proxy {

/**
 * Drives one hiredis `redisAsyncContext` from an io_context, in place of the libevent/libuv
 * adapters hiredis ships (it ships none for Asio). hiredis calls the ev hooks to say when it wants
 * to read or write; each want becomes a one-shot `async_wait` on a `posix::stream_descriptor`
 * that borrows the context's fd, and readiness calls `redisAsyncHandleRead/Write`.
 *
 * hiredis owns the fd and the context: when it frees the context (error, redisAsyncFree) it calls
 * the cleanup hook first, where the descriptor is released (never closed here) and the owner is
 * told through the cleanup handler. After that the adapter never touches the context again.
 *
 * Single-threaded: everything runs on the io_context thread.
 */
class HiredisAsioAdapter : public std::enable_shared_from_this<HiredisAsioAdapter> {
public:
  /** Called once, from inside hiredis, just before it frees the context. */
  using CleanupHandler = std::function<void()>;

  /**
   * Hooks `context` (fresh from redisAsyncConnect*, without error) to `io`.
   * @return the adapter, or null with `ec` set if the fd cannot be registered; the caller then
   *         still owns the context and must redisAsyncFree it.
   */
  static std::shared_ptr<HiredisAsioAdapter> attach(net::io_context& io,
                                                    redisAsyncContext* context,
                                                    CleanupHandler on_cleanup,
                                                    boost::system::error_code& ec);

  HiredisAsioAdapter(net::io_context& io, redisAsyncContext* context, CleanupHandler on_cleanup);
  HiredisAsioAdapter(const HiredisAsioAdapter&) = delete;
  HiredisAsioAdapter& operator=(const HiredisAsioAdapter&) = delete;
  ~HiredisAsioAdapter();

  /** Null once hiredis has cleaned the context up. */
  redisAsyncContext* context() const { return context_; }

private:
  static void onAddRead(void* data);
  static void onDelRead(void* data);
  static void onAddWrite(void* data);
  static void onDelWrite(void* data);
  static void onCleanup(void* data);

  void armRead();
  void armWrite();
  void handleReadable(const boost::system::error_code& ec);
  void handleWritable(const boost::system::error_code& ec);
  void cleanup();

  redisAsyncContext* context_;
  net::posix::stream_descriptor stream_;
  CleanupHandler on_cleanup_;
  bool want_read_ = false;
  bool want_write_ = false;
  bool read_waiting_ = false;
  bool write_waiting_ = false;
};

}  // namespace spendgate::proxy
