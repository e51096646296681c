#include "proxy/stats/redis_spend_recorder.hpp"

#include <boost/asio/post.hpp>
#include <future>

namespace spendgate::proxy {

namespace {}  // namespace

RedisSpendRecorder::RedisSpendRecorder(Options options)
    : options_(std::move(options)),
      work_(context_.get_executor()),
      client_(RedisClient::create(context_, options_.redis)),
      timer_(context_) {
  if (options_.flush_interval.count() < 1) options_.flush_interval = std::chrono::milliseconds(1);
  net::post(context_, [this] {
    client_->start();
    scheduleFlush();
  });
  thread_ = std::thread([this] { context_.run(); });
}

RedisSpendRecorder::~RedisSpendRecorder() {
  // Last flush, bounded: a dead Redis must not hold up shutdown.
  auto flushed = std::make_shared<std::promise<void>>();
  auto done = flushed->get_future();
  flush([flushed] { flushed->set_value(); });
  done.wait_for(options_.redis.command_timeout + std::chrono::milliseconds(500));
  net::post(context_, [this] {
    timer_.cancel();
    client_->stop();
  });
  work_.reset();
  // Let the stop run, then end the loop whatever is still pending.
  std::promise<void> stopped;
  net::post(context_, [&stopped] { stopped.set_value(); });
  stopped.get_future().wait_for(std::chrono::seconds(1));
  context_.stop();
  thread_.join();
}

void RedisSpendRecorder::record(const core::SettledRequest& request,
                                std::chrono::system_clock::time_point now) {
  std::lock_guard lock(mutex_);
  batch_.add(request, now);
}

void RedisSpendRecorder::flush(std::function<void()> done) {
  net::post(context_, [this, done = std::move(done)]() mutable { flushOnThread(std::move(done)); });
}

void RedisSpendRecorder::scheduleFlush() {
  timer_.expires_after(options_.flush_interval);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    flushOnThread({});
    scheduleFlush();
  });
}

void RedisSpendRecorder::flushOnThread(std::function<void()> done) {
  core::SpendBatch batch;
  {
    std::lock_guard lock(mutex_);
    // While Redis is away the batch keeps merging (bounded by distinct values per window).
    if (batch_.empty() || !client_->connected()) {
      if (done) done();
      return;
    }
    std::swap(batch, batch_);
  }
  auto commands = batch.commands(options_.prefix);
  struct Flight {
    std::size_t left = 0;
    bool failed = false;
    std::uint64_t requests = 0;
    std::function<void()> done;
  };
  auto flight = std::make_shared<Flight>();
  flight->left = commands.size();
  flight->requests = static_cast<std::uint64_t>(batch.requests());
  flight->done = std::move(done);
  for (auto& command : commands) {
    client_->command(std::move(command),
                     [this, flight](boost::system::error_code ec, RedisReply reply) {
                       if (ec || reply.isError()) flight->failed = true;
                       if (--flight->left > 0) return;
                       (flight->failed ? dropped_ : flushed_) += flight->requests;
                       if (flight->done) flight->done();
                     });
  }
}

void RedisSpendRecorder::query(core::Dimension dimension,
                               core::Period period,
                               std::chrono::system_clock::time_point now,
                               QueryCallback callback) {
  net::post(context_, [this, dimension, period, now, callback = std::move(callback)] {
    using Result = core::StoreResult<core::SpendReport>;
    auto commands = core::redisSpendQueryCommands(dimension, period, now, options_.prefix);
    if (commands.empty()) {
      callback(core::parseRedisSpendReplies(dimension, period, now, {}));
      return;
    }
    if (!client_->connected()) {
      callback(Result::failure("redis not connected" + (client_->lastError().empty()
                                                            ? std::string()
                                                            : ": " + client_->lastError())));
      return;
    }
    // This instance's own requests first: the batch goes out on the same connection ahead of the
    // reads, and Redis answers one connection in order, so a report never lags this instance's
    // own settled requests (other instances' are at most one flush interval behind).
    flushOnThread({});
    struct Flight {
      std::size_t left = 0;
      std::string error;
      std::vector<core::ScriptValue> replies;
      QueryCallback callback;
    };
    auto flight = std::make_shared<Flight>();
    flight->left = commands.size();
    flight->replies.resize(commands.size());
    flight->callback = callback;
    for (std::size_t i = 0; i < commands.size(); ++i) {
      client_->command(std::move(commands[i]), [flight, i, dimension, period, now](
                                                   boost::system::error_code ec, RedisReply reply) {
        if (ec && flight->error.empty()) flight->error = "redis: " + ec.message();
        if (!ec) flight->replies[i] = toScriptValue(reply);
        if (--flight->left > 0) return;
        if (!flight->error.empty()) {
          flight->callback(Result::failure(flight->error));
        } else {
          flight->callback(core::parseRedisSpendReplies(dimension, period, now, flight->replies));
        }
      });
    }
  });
}

}  // namespace spendgate::proxy
