#include "proxy/store/redis_client.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <boost/asio/post.hpp>
#include <cstdint>

#include "proxy/store/hiredis_asio_adapter.hpp"
#include "proxy/store/reply_size_limit.hpp"

namespace spendgate::proxy {

namespace {

RedisReply convertReply(const redisReply* reply) {
  RedisReply out;
  switch (reply->type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::String;
      out.str.assign(reply->str, reply->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::Status;
      out.str.assign(reply->str, reply->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::Error;
      out.str.assign(reply->str, reply->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::Integer;
      out.integer = reply->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::Array;
      out.elements.reserve(reply->elements);
      for (std::size_t i = 0; i < reply->elements; ++i) {
        out.elements.push_back(convertReply(reply->element[i]));
      }
      break;
    default:
      out.type = RedisReply::Type::Nil;
      break;
  }
  return out;
}

/** Prefers IPv4: a "localhost" Redis usually binds 127.0.0.1 only, while ::1 resolves first. */
tcp::endpoint pickEndpoint(const tcp::resolver::results_type& results) {
  for (const auto& entry : results) {
    if (entry.endpoint().address().is_v4()) return entry.endpoint();
  }
  return results.begin()->endpoint();
}

}  // namespace

std::shared_ptr<RedisClient> RedisClient::create(net::io_context& context, Options options) {
  return std::shared_ptr<RedisClient>(new RedisClient(context, std::move(options)));
}

RedisClient::RedisClient(net::io_context& context, Options options)
    : context_(context),
      options_(std::move(options)),
      resolver_(context),
      connect_timer_(context),
      reconnect_timer_(context),
      command_timer_(context),
      backoff_(options_.min_backoff),
      jitter_(std::random_device{}()) {
  url_ = config::RedisUrl::parse(options_.url, &url_error_);
  if (options_.min_backoff.count() < 1) options_.min_backoff = std::chrono::milliseconds(1);
  if (options_.max_backoff < options_.min_backoff) options_.max_backoff = options_.min_backoff;
}

RedisClient::~RedisClient() {
  state_ = State::Stopped;
  if (redis_ != nullptr) {
    // hiredis fails the in-flight commands with null replies while freeing; they must not reach
    // this half-destroyed object, so detach and fail them below instead.
    redis_->data = nullptr;
    auto* context = redis_;
    redis_ = nullptr;
    redisAsyncFree(context);
  }
  failAllPending(net::error::operation_aborted);
}

void RedisClient::start() {
  if (state_ != State::Stopped) return;
  backoff_ = options_.min_backoff;
  connect();
}

void RedisClient::stop() {
  if (state_ == State::Stopped) return;
  const bool was_up = state_ == State::Connected;
  state_ = State::Stopped;
  ++attempt_;
  resolver_.cancel();
  connect_timer_.cancel();
  reconnect_timer_.cancel();
  disarmCommandTimer();
  dropConnection(net::error::operation_aborted, "stopped");
  failAllPending(net::error::operation_aborted);
  if (was_up) notifyListeners(false);
}

void RedisClient::onConnectionChange(std::function<void(bool up)> listener) {
  if (listener) listeners_.push_back(std::move(listener));
}

void RedisClient::command(std::vector<std::string> args, Callback cb) {
  auto complete = postTo(std::move(cb));
  if (args.empty()) return complete(net::error::invalid_argument, {});
  if (state_ != State::Connected) return complete(net::error::not_connected, {});
  if (pending_.size() >= options_.max_pending) return complete(net::error::no_buffer_space, {});
  issue(args, std::move(complete), Clock::now() + options_.command_timeout);
}

void RedisClient::evalsha(const LuaScript& script,
                          std::vector<std::string> keys,
                          std::vector<std::string> args,
                          Callback cb) {
  struct Call {
    LuaScript script;
    std::vector<std::string> argv;
    Completion complete;
  };
  auto call = std::make_shared<Call>(Call{script, {}, postTo(std::move(cb))});
  if (state_ != State::Connected) return call->complete(net::error::not_connected, {});
  if (pending_.size() >= options_.max_pending) {
    return call->complete(net::error::no_buffer_space, {});
  }

  auto& argv = call->argv;
  argv.reserve(3 + keys.size() + args.size());
  argv.emplace_back("EVALSHA");
  argv.push_back(script.sha1());
  argv.push_back(std::to_string(keys.size()));
  for (auto& key : keys) argv.push_back(std::move(key));
  for (auto& arg : args) argv.push_back(std::move(arg));

  // Runs inside hiredis' reply callback, where queuing another command is allowed.
  auto on_reply = [this, call](boost::system::error_code ec, RedisReply reply) {
    if (!ec && reply.isErrorWithPrefix("NOSCRIPT")) {
      // EVAL runs the script and caches it, one round trip instead of SCRIPT LOAD + EVALSHA.
      call->argv[0] = "EVAL";
      call->argv[1] = call->script.source();
      issue(call->argv, std::move(call->complete), Clock::now() + options_.command_timeout);
      return;
    }
    call->complete(ec, std::move(reply));
  };
  issue(argv, std::move(on_reply), Clock::now() + options_.command_timeout);
}

RedisClient::Completion RedisClient::postTo(Callback cb) {
  return [&context = context_, cb = std::move(cb)](boost::system::error_code ec,
                                                   RedisReply reply) mutable {
    if (!cb) return;
    net::post(context, [cb = std::move(cb), ec, reply = std::move(reply)]() mutable {
      cb(ec, std::move(reply));
    });
  };
}

bool RedisClient::issue(const std::vector<std::string>& args,
                        Completion complete,
                        Clock::time_point deadline) {
  if (redis_ == nullptr) {
    complete(net::error::not_connected, {});
    return false;
  }
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (const auto& arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  const std::uint64_t id = next_id_++;
  // The id, not a pointer, travels through hiredis: a reply for an entry that is already gone
  // (timed out) is then simply not found.
  const int status = redisAsyncCommandArgv(
      redis_, &RedisClient::onReply, reinterpret_cast<void*>(static_cast<std::uintptr_t>(id)),
      static_cast<int>(args.size()), argv.data(), lengths.data());
  if (status != REDIS_OK) {
    complete(net::error::not_connected, {});
    return false;
  }
  pending_.push_back(Pending{id, deadline, std::move(complete)});
  armCommandTimer();
  return true;
}

void RedisClient::onReply(redisAsyncContext* context, void* reply, void* privdata) {
  auto* self = static_cast<RedisClient*>(context->data);
  if (self == nullptr) return;
  const auto id = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(privdata));
  if (reply == nullptr) {
    // hiredis is freeing the context and flushes every callback with a null reply.
    self->completeWithReply(id, self->drop_reason_, {});
  } else {
    self->completeWithReply(id, {}, convertReply(static_cast<const redisReply*>(reply)));
  }
}

void RedisClient::completeWithReply(std::uint64_t id,
                                    boost::system::error_code ec,
                                    RedisReply reply) {
  // Replies come in order, so this is the front entry unless that one already timed out.
  for (auto it = pending_.begin(); it != pending_.end(); ++it) {
    if (it->id != id) continue;
    Completion complete = std::move(it->complete);
    pending_.erase(it);
    complete(ec, std::move(reply));
    return;
  }
}

void RedisClient::failAllPending(boost::system::error_code reason) {
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& entry : pending) entry.complete(reason, {});
}

void RedisClient::armCommandTimer() {
  if (command_timer_armed_ || pending_.empty()) return;
  const auto deadline = pending_.front().deadline;
  if (deadline == Clock::time_point::max()) return;
  command_timer_armed_ = true;
  command_timer_.expires_at(deadline);
  command_timer_.async_wait([weak = weak_from_this(), generation = ++command_timer_generation_](
                                const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (!self || self->command_timer_generation_ != generation) return;
    self->command_timer_armed_ = false;
    if (!ec) self->onCommandTimer();
  });
}

void RedisClient::disarmCommandTimer() {
  ++command_timer_generation_;
  command_timer_armed_ = false;
  command_timer_.cancel();
}

void RedisClient::onCommandTimer() {
  if (pending_.empty()) return;
  if (pending_.front().deadline > Clock::now()) {
    // Deadlines grow monotonically along the queue, so the front is always the next to expire.
    armCommandTimer();
    return;
  }
  Pending expired = std::move(pending_.front());
  pending_.pop_front();
  expired.complete(net::error::timed_out, {});
  // Replies are matched by order: one missing reply means the rest can't be trusted either.
  dropConnection(
      net::error::connection_aborted,
      "command timed out after " + std::to_string(options_.command_timeout.count()) + "ms");
}

void RedisClient::connect() {
  ++attempt_;
  ++connect_attempts_;
  if (!url_) {
    last_error_ = "invalid redis url: " + url_error_;
    state_ = State::Backoff;
    scheduleReconnect();
    return;
  }

  connect_timer_.expires_after(options_.connect_timeout);
  connect_timer_.async_wait(
      [weak = weak_from_this(), attempt = attempt_](const boost::system::error_code& ec) {
        auto self = weak.lock();
        if (ec || !self || self->attempt_ != attempt) return;
        self->onConnectTimeout();
      });

  if (url_->isUnix()) return connectTo(nullptr);

  boost::system::error_code ec;
  const auto address = net::ip::make_address(url_->host, ec);
  if (!ec) {
    const tcp::endpoint endpoint(address, url_->port);
    return connectTo(&endpoint);
  }

  // hiredis would resolve a host name with a blocking getaddrinfo(); Asio resolves off-thread.
  state_ = State::Resolving;
  resolver_.async_resolve(
      url_->host, std::to_string(url_->port),
      [weak = weak_from_this(), attempt = attempt_](const boost::system::error_code& ec,
                                                    tcp::resolver::results_type results) {
        auto self = weak.lock();
        if (!self || self->attempt_ != attempt || self->state_ != State::Resolving) return;
        if (ec || results.empty()) {
          self->last_error_ = "resolve " + self->url_->host + ": " +
                              (ec ? ec.message() : std::string("no addresses"));
          self->connect_timer_.cancel();
          self->state_ = State::Backoff;
          self->scheduleReconnect();
          return;
        }
        const auto endpoint = pickEndpoint(results);
        self->connectTo(&endpoint);
      });
}

void RedisClient::connectTo(const tcp::endpoint* endpoint) {
  state_ = State::Connecting;
  redisAsyncContext* context =
      endpoint == nullptr
          ? redisAsyncConnectUnix(url_->socket_path.c_str())
          : redisAsyncConnect(endpoint->address().to_string().c_str(), endpoint->port());
  boost::system::error_code ec;
  std::shared_ptr<HiredisAsioAdapter> adapter;
  if (context != nullptr && context->err == 0) {
    adapter = HiredisAsioAdapter::attach(
        context_, context,
        [weak = weak_from_this()] {
          if (auto self = weak.lock()) self->onContextClosed();
        },
        ec);
  }
  if (!adapter) {
    last_error_ = context == nullptr  ? std::string("cannot allocate hiredis context")
                  : context->err != 0 ? std::string(context->errstr)
                                      : "cannot register socket: " + ec.message();
    // Not attached yet: freeing runs no callbacks and just closes the fd.
    if (context != nullptr) redisAsyncFree(context);
    connect_timer_.cancel();
    state_ = State::Backoff;
    scheduleReconnect();
    return;
  }
  // A reply that announces a huge array must fail, not allocate what it announces.
  limitReplySize(*context->c.reader);
  // Finds a silently dead peer (partition, crashed host) while no command is in flight.
  if (endpoint != nullptr) redisEnableKeepAlive(&context->c);
  context->data = this;
  redis_ = context;
  adapter_ = std::move(adapter);
  drop_reason_ = net::error::connection_aborted;
  sendHandshake();
}

void RedisClient::sendHandshake() {
  std::vector<std::vector<std::string>> commands;
  if (url_->password) {
    if (url_->user.empty()) {
      commands.push_back({"AUTH", *url_->password});
    } else {
      commands.push_back({"AUTH", url_->user, *url_->password});
    }
  }
  if (url_->db != 0) commands.push_back({"SELECT", std::to_string(url_->db)});
  // Without AUTH/SELECT, PING proves a Redis answers before the client reports itself up.
  if (commands.empty()) commands.push_back({"PING"});

  // Queued before the TCP connect completes; hiredis writes them once it does. No command
  // deadline: the connect timer covers the whole handshake.
  for (std::size_t i = 0; i < commands.size(); ++i) {
    const bool last = i + 1 == commands.size();
    const bool queued = issue(
        commands[i],
        [this, last](boost::system::error_code ec, RedisReply reply) {
          onHandshakeReply(ec, reply, last);
        },
        Clock::time_point::max());
    if (!queued) return;  // the context is going away; onContextClosed() reconnects
  }
}

void RedisClient::onHandshakeReply(boost::system::error_code ec,
                                   const RedisReply& reply,
                                   bool last) {
  if (ec) return;  // null reply: the context is being freed and onContextClosed() follows
  if (reply.isError()) {
    // Inside a hiredis callback: redisAsyncFree is deferred until the callback returns.
    dropConnection(net::error::connection_aborted, "handshake failed: " + reply.str);
    return;
  }
  if (!last || state_ != State::Connecting) return;
  state_ = State::Connected;
  ever_connected_ = true;
  backoff_ = options_.min_backoff;
  connect_timer_.cancel();
  last_error_.clear();
  notifyListeners(true);
}

void RedisClient::onConnectTimeout() {
  if (state_ == State::Resolving) {
    resolver_.cancel();
    last_error_ = "connect timeout (resolving " + url_->host + ")";
    state_ = State::Backoff;
    scheduleReconnect();
  } else if (state_ == State::Connecting) {
    dropConnection(
        net::error::timed_out,
        "connect timeout after " + std::to_string(options_.connect_timeout.count()) + "ms");
  }
}

void RedisClient::dropConnection(boost::system::error_code reason, std::string why) {
  if (redis_ == nullptr) return;
  drop_reason_ = reason;
  last_error_ = std::move(why);
  auto* context = redis_;
  redis_ = nullptr;
  // Outside hiredis callbacks this frees at once: null-reply callbacks for every pending command,
  // then the cleanup hook (onContextClosed). Inside a reply callback hiredis frees right after
  // the callback returns. Either way the context is never touched again here.
  redisAsyncFree(context);
}

void RedisClient::onContextClosed() {
  // Runs inside hiredis' free, before it closes the fd and releases the context.
  if (redis_ != nullptr) {
    // hiredis gave up on its own (EOF, socket or protocol error, refused connect).
    last_error_ = redis_->err != 0 ? std::string(redis_->errstr) : "connection closed";
    if (const long long refused = takeRefusedArraySize(); refused >= 0 && redis_->err != 0) {
      last_error_ = "a reply announced an array of " + std::to_string(refused) +
                    " elements, more than " + std::to_string(kMaxRedisReplyElements) +
                    ": not a Redis spendgate can use";
    }
    redis_ = nullptr;
  }
  adapter_.reset();  // the adapter keeps itself alive until its cleanup hook returns
  disarmCommandTimer();
  failAllPending(drop_reason_);
  connect_timer_.cancel();
  if (state_ == State::Stopped) return;
  const bool was_up = state_ == State::Connected;
  state_ = State::Backoff;
  if (was_up) notifyListeners(false);
  scheduleReconnect();
}

void RedisClient::scheduleReconnect() {
  if (!ever_connected_ && !told_never_up_) {
    told_never_up_ = true;
    notifyListeners(false);
  }
  // Equal jitter: somewhere in [backoff/2, backoff], so many proxies don't reconnect in lockstep.
  const auto half = backoff_.count() / 2;
  std::uniform_int_distribution<std::chrono::milliseconds::rep> spread(0, half);
  const std::chrono::milliseconds delay(backoff_.count() - half + spread(jitter_));
  backoff_ = std::min(backoff_ * 2, options_.max_backoff);
  reconnect_timer_.expires_after(delay);
  reconnect_timer_.async_wait(
      [weak = weak_from_this(), attempt = attempt_](const boost::system::error_code& ec) {
        auto self = weak.lock();
        if (ec || !self || self->attempt_ != attempt || self->state_ != State::Backoff) return;
        self->connect();
      });
}

void RedisClient::notifyListeners(bool up) {
  for (const auto& listener : listeners_) {
    net::post(context_, [listener, up] { listener(up); });
  }
}

}  // namespace spendgate::proxy
