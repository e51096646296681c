#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <functional>
#include <memory>

#include "proxy/net.hpp"

namespace spendgate::proxy {

/**
 * Awaits a callback-style call (the counter store's API) from a coroutine. `start` receives the
 * callback to pass on. The coroutine resumes on its own executor whether the callback runs
 * inline (memory store) or later from another event loop (Redis). `AwaitableExecutor` is the
 * awaiting coroutine's executor type (Executor on the request path).
 */
template <class Result, class AwaitableExecutor = net::any_io_executor, class Start>
net::awaitable<Result, AwaitableExecutor> awaitCallback(Start start) {
  auto executor = co_await net::this_coro::executor;
  co_return co_await net::async_initiate<const net::use_awaitable_t<AwaitableExecutor>,
                                         void(Result)>(
      [&](auto handler) {
        // Asio's handler is move-only; std::function needs a copyable callable.
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        start(std::function<void(Result)>([executor, shared](Result result) {
          net::post(executor, [shared, result = std::move(result)]() mutable {
            (*shared)(std::move(result));
          });
        }));
      },
      net::use_awaitable_t<AwaitableExecutor>{});
}

}  // namespace spendgate::proxy
