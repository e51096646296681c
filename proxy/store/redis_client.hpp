#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "config/redis_url.hpp"
#include "proxy/net.hpp"
#include "proxy/store/lua_script.hpp"
#include "proxy/store/redis_reply.hpp"

// hiredis stays out of this header: only the .cpp files see it.
struct redisAsyncContext;

namespace spendgate::proxy {

class HiredisAsioAdapter;

/**
 * Asynchronous Redis client for event-loop threads: nothing it does blocks. One connection,
 * pipelined (any number of commands in flight, replies matched in order), kept up in the
 * background with exponential backoff.
 *
 * Callbacks run on the io_context thread, exactly once, and never inside the call that queued
 * them (they are posted), so a callback may safely issue the next command or call stop().
 * The error_code reports transport problems only; a Redis error reply (`-ERR ...`) arrives with an
 * empty error_code and `reply.isError()`.
 *
 * Errors passed to callbacks:
 *  - `net::error::not_connected`: no usable connection right now (failed fast, nothing queued);
 *  - `net::error::timed_out`: this command got no reply within `command_timeout` (the connection
 *    is then dropped and re-established, since later replies would be out of order);
 *  - `net::error::connection_aborted`: the connection dropped while the command was in flight;
 *  - `net::error::operation_aborted`: stop() was called or the client was destroyed;
 *  - `net::error::no_buffer_space`: `max_pending` commands are already in flight;
 *  - `net::error::invalid_argument`: empty command.
 *
 * Thread model: one RedisClient per io_context thread (the proxy runs one io_context per
 * thread). Not thread-safe: call every member from the thread running the io_context.
 * Create it with create() (handlers hold weak references); dropping the last reference
 * stops it, and pending callbacks still get `operation_aborted` when the io_context runs.
 */
class RedisClient : public std::enable_shared_from_this<RedisClient> {
public:
  struct Options {
    /** See RedisUrl for the accepted forms. */
    std::string url = "redis://127.0.0.1:6379/0";
    /** Resolve + TCP connect + AUTH/SELECT handshake, per attempt. */
    std::chrono::milliseconds connect_timeout{1000};
    /** Per command, from command() to its reply. */
    std::chrono::milliseconds command_timeout{1000};
    /** First reconnect delay; doubles per failed attempt up to max_backoff (with jitter). */
    std::chrono::milliseconds min_backoff{50};
    std::chrono::milliseconds max_backoff{2000};
    /** Commands in flight on the connection beyond which command() fails fast. */
    std::size_t max_pending = 100000;
  };

  using Callback = std::function<void(boost::system::error_code, RedisReply)>;

  /** Does not connect yet; call start(). */
  static std::shared_ptr<RedisClient> create(net::io_context& context, Options options);

  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  /** Connects in the background and reconnects with backoff until stop(). Idempotent. */
  void start();

  /**
   * Closes the connection and stops reconnecting. Pending callbacks get operation_aborted
   * (posted). start() may be called again afterwards.
   */
  void stop();

  /** True once connected and the AUTH/SELECT handshake has succeeded. */
  bool connected() const { return state_ == State::Connected; }

  /**
   * Sends one command. Arguments are binary-safe (no format string).
   * @param args command name and arguments, e.g. {"SET", key, value}.
   * @param cb called exactly once, posted to the io_context.
   */
  void command(std::vector<std::string> args, Callback cb);

  /**
   * EVALSHA with the script's SHA1. On NOSCRIPT (script cache flushed, failover, new server) the
   * call is retried once with EVAL, which also caches the script; the caller never sees NOSCRIPT.
   */
  void evalsha(const LuaScript& script,
               std::vector<std::string> keys,
               std::vector<std::string> args,
               Callback cb);

  /**
   * Adds a listener for connection up/down transitions (after the handshake / on loss), and one
   * `false` when the first attempt fails before any connection was ever up.
   * Calls are posted to the io_context thread.
   */
  void onConnectionChange(std::function<void(bool up)> listener);

  /** Why the last connection attempt failed or the connection dropped (diagnostics, tests). */
  const std::string& lastError() const { return last_error_; }

  /** Connection attempts started since construction (diagnostics, tests). */
  std::uint64_t connectAttempts() const { return connect_attempts_; }

  /** Commands currently waiting for a reply. */
  std::size_t pendingCount() const { return pending_.size(); }

private:
  enum class State { Stopped, Resolving, Connecting, Connected, Backoff };

  using Clock = std::chrono::steady_clock;
  /** Completion for one queued hiredis command; runs synchronously, inside hiredis' callback. */
  using Completion = std::function<void(boost::system::error_code, RedisReply)>;

  struct Pending {
    std::uint64_t id;
    Clock::time_point deadline;
    Completion complete;
  };

  RedisClient(net::io_context& context, Options options);

  static void onReply(redisAsyncContext* context, void* reply, void* privdata);

  void connect();
  void connectTo(const tcp::endpoint* endpoint);
  void onConnectTimeout();
  void sendHandshake();
  void onHandshakeReply(boost::system::error_code ec, const RedisReply& reply, bool last);
  void onContextClosed();
  void scheduleReconnect();
  void notifyListeners(bool up);

  /**
   * Queues on the live context. If there is none (or hiredis refuses), runs `complete` with
   * not_connected right away and returns false.
   */
  bool issue(const std::vector<std::string>& args, Completion complete, Clock::time_point deadline);
  void armCommandTimer();
  void disarmCommandTimer();
  void onCommandTimer();
  /** Frees the hiredis context; `reason` goes to every command still in flight. */
  void dropConnection(boost::system::error_code reason, std::string why);
  void failAllPending(boost::system::error_code reason);
  void completeWithReply(std::uint64_t id, boost::system::error_code ec, RedisReply reply);
  Completion postTo(Callback cb);

  net::io_context& context_;
  Options options_;
  std::optional<config::RedisUrl> url_;
  std::string url_error_;

  State state_ = State::Stopped;
  redisAsyncContext* redis_ = nullptr;
  std::shared_ptr<HiredisAsioAdapter> adapter_;
  /** Error handed to commands that hiredis fails with a null reply while it frees the context. */
  boost::system::error_code drop_reason_;

  tcp::resolver resolver_;
  net::steady_timer connect_timer_;
  net::steady_timer reconnect_timer_;
  net::steady_timer command_timer_;
  bool command_timer_armed_ = false;
  // Listeners hear `false` once when the first attempts fail before any connection came up
  // (nothing else tells a proxy that starts against a wrong port or password).
  bool ever_connected_ = false;
  bool told_never_up_ = false;
  /** Lets a cancelled command-timer wait recognise that it has been superseded. */
  std::uint64_t command_timer_generation_ = 0;
  /** Bumped per connection attempt so stale timer and resolver completions are ignored. */
  std::uint64_t attempt_ = 0;
  std::uint64_t connect_attempts_ = 0;

  std::chrono::milliseconds backoff_;
  std::minstd_rand jitter_;

  std::deque<Pending> pending_;
  std::uint64_t next_id_ = 1;
  std::vector<std::function<void(bool)>> listeners_;
  std::string last_error_;
};

}  // namespace spendgate::proxy
