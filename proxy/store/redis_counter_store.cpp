#include "proxy/store/redis_counter_store.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <stdexcept>

#include "config/redis_url.hpp"
#include "core/store/admit_script.hpp"
#include "core/store/budgets_script.hpp"
#include "core/store/lua_sources.hpp"
#include "core/store/settle_script.hpp"
#include "core/store/store_commands.hpp"
#include "proxy/logging/logger.hpp"
#include "proxy/store/redis_client.hpp"
#include "proxy/store/redis_reply.hpp"

namespace spendgate::proxy {

using boost::system::error_code;

/** One script's calls on one connection: at most one call in flight, the rest wait for it. */
struct RedisCounterStore::Lane {
  struct Item {
    core::ScriptCall call;
    Reply done;
  };
  const LuaScript* script = nullptr;
  std::deque<Item> queued;
  bool busy = false;         // a call is in flight
  bool send_posted = false;  // a send is posted to the loop
};

/** One loop and its client. Everything but `index` and `loop` is only touched on its thread. */
struct RedisCounterStore::Slot {
  std::size_t index = 0;
  net::io_context* loop = nullptr;
  std::shared_ptr<RedisClient> client;
  bool connected = false;
  bool attempted = false;  // the first connection attempt ended (up or failed)
  Lane admits;
  Lane settles;
  // Admits that ended without a reply (transport error, timeout after the write): Redis may
  // have run them, or may still run them, with nobody to settle what they reserve. Released
  // with tombstones (releaseUnanswered) once Redis answers again.
  std::deque<std::string> unanswered;
  bool releasing = false;  // a tombstone batch is in flight
};

namespace {

/** "redis <what>: <error> (<client's last connection error>)". Loop thread only. */
std::string transportError(const std::shared_ptr<RedisClient>& client,
                           std::string_view what,
                           const error_code& ec) {
  std::string text = "redis " + std::string(what) + ": " + ec.message();
  if (!client->connected() && !client->lastError().empty()) {
    text += " (" + client->lastError() + ")";
  }
  return text;
}

/** Bound of Slot::unanswered (ids of about 40 bytes); past it the oldest expire on their own. */
constexpr std::size_t kMaxUnanswered = 100000;
/** Tombstones per call. */
constexpr std::size_t kTombstoneBatch = 256;

core::AdmissionResult admitError(std::string message) {
  core::AdmissionResult result;
  result.status = core::AdmissionResult::Status::StoreError;
  result.error = std::move(message);
  return result;
}

}  // namespace

std::shared_ptr<RedisCounterStore> RedisCounterStore::create(const config::RedisConfig& config,
                                                             std::vector<net::io_context*> loops,
                                                             Logger& logger) {
  return create(config, std::move(loops), logger, Options{});
}

std::shared_ptr<RedisCounterStore> RedisCounterStore::create(const config::RedisConfig& config,
                                                             std::vector<net::io_context*> loops,
                                                             Logger& logger,
                                                             Options options) {
  if (loops.empty()) throw std::invalid_argument("RedisCounterStore needs at least one loop");
  for (auto* loop : loops) {
    if (loop == nullptr) throw std::invalid_argument("RedisCounterStore: null io_context");
  }
  std::shared_ptr<RedisCounterStore> store(
      new RedisCounterStore(config, std::move(loops), logger, std::move(options)));
  store->startClients();
  return store;
}

RedisCounterStore::RedisCounterStore(const config::RedisConfig& config,
                                     std::vector<net::io_context*> loops,
                                     Logger& logger,
                                     Options options)
    : options_(std::move(options)),
      url_(config.url),
      redacted_url_([&] {
        std::string error;
        const auto parsed = config::RedisUrl::parse(config.url, &error);
        return parsed ? parsed->redacted() : "(invalid url: " + error + ")";
      }()),
      logger_(logger),
      keys_(options_.prefix),
      admit_script_(std::string(core::admitLuaSource())),
      settle_script_(std::string(core::settleLuaSource())),
      budgets_script_(std::string(core::budgetsLuaSource())),
      reconcile_script_(std::string(core::reconcileLuaSource())),
      lease_script_(std::string(core::leaseLuaSource())) {
  RedisClient::Options client_options;
  client_options.url = url_;
  client_options.connect_timeout = options_.connect_timeout;
  client_options.command_timeout = options_.command_timeout;
  client_options.min_backoff = options_.min_backoff;
  client_options.max_backoff = options_.max_backoff;
  for (std::size_t i = 0; i < loops.size(); ++i) {
    auto slot = std::make_unique<Slot>();
    slot->index = i;
    slot->loop = loops[i];
    slot->client = RedisClient::create(*loops[i], client_options);
    slot->admits.script = &admit_script_;
    slot->settles.script = &settle_script_;
    slots_.push_back(std::move(slot));
  }
}

RedisCounterStore::~RedisCounterStore() {
  // Each client is only touched on its own loop's thread, so it is stopped and released there.
  for (auto& slot : slots_) {
    net::post(*slot->loop, [client = std::move(slot->client)] { client->stop(); });
  }
}

void RedisCounterStore::startClients() {
  std::weak_ptr<RedisCounterStore> weak = shared_from_this();
  for (auto& slot : slots_) {
    Slot* s = slot.get();
    // The client may only be touched on its loop's thread, which may already be running.
    net::post(*s->loop, [weak, s] {
      auto self = weak.lock();
      if (!self) return;
      s->client->onConnectionChange([weak, s](bool up) {
        if (auto self = weak.lock()) self->onConnectionChange(*s, up);
      });
      s->client->start();
    });
  }
}

void RedisCounterStore::stop() {
  for (auto& slot : slots_) {
    net::post(*slot->loop, [client = slot->client] { client->stop(); });
  }
}

void RedisCounterStore::onConnectionChange(Slot& slot, bool up) {
  // Counted after connected_ (below): whoever sees every first attempt done sees up() agree.
  struct FirstAttempt {
    Slot& slot;
    std::atomic<std::size_t>& attempted;
    ~FirstAttempt() {
      if (slot.attempted) return;
      slot.attempted = true;
      attempted.fetch_add(1, std::memory_order_acq_rel);
    }
  } first{slot, attempted_};
  if (!up && !slot.connected) {
    // Never up yet: the first attempt failed (wrong port, password, host). Said once per store.
    if (!never_up_logged_.exchange(true, std::memory_order_relaxed)) {
      logger_.warn("redis store: cannot connect to " + redacted_url_ + ": " +
                   slot.client->lastError() + " (retrying)");
    }
    return;
  }
  if (slot.connected == up) return;
  slot.connected = up;
  const std::size_t total = slots_.size();
  if (up) {
    const std::size_t now_connected = connected_.fetch_add(1, std::memory_order_acq_rel) + 1;
    if (now_connected == total) logger_.info("redis store: connected to " + redacted_url_);
    releaseUnanswered(slot);
    std::function<void()> listener;
    {
      std::lock_guard lock(listener_mutex_);
      listener = listener_;
    }
    if (listener) listener();
  } else {
    const std::size_t before = connected_.fetch_sub(1, std::memory_order_acq_rel);
    if (before == total) {
      logger_.warn("redis store: connection lost (loop " + std::to_string(slot.index) +
                   "): " + slot.client->lastError());
    }
  }
}

bool RedisCounterStore::up() const {
  return connected_.load(std::memory_order_acquire) == slots_.size();
}

void RedisCounterStore::setAvailabilityListener(std::function<void()> listener) {
  std::lock_guard lock(listener_mutex_);
  listener_ = std::move(listener);
}

bool RedisCounterStore::unavailable(const std::string& error) const {
  return error.rfind("redis ", 0) == 0;
}

void RedisCounterStore::onClient(std::function<void(Slot&)> job) {
  for (auto& slot : slots_) {
    if (slot->loop->get_executor().running_in_this_thread()) {
      job(*slot);
      return;
    }
  }
  // Not on any of our loops: run on loop 0, which then also completes the call.
  net::post(*slots_.front()->loop,
            [self = shared_from_this(), job = std::move(job)] { job(*self->slots_.front()); });
}

void RedisCounterStore::claimOnce(const std::string& name,
                                  std::chrono::seconds ttl,
                                  std::function<void(bool claimed)> done) {
  onClient(
      [key = keys_.prefix() + "claim:" + name, ttl, done = std::move(done)](Slot& slot) mutable {
        slot.client->command({"SET", key, "1", "NX", "EX", std::to_string(ttl.count())},
                             [done = std::move(done)](error_code ec, RedisReply reply) {
                               done(ec || reply.isError() || !reply.isNil());
                             });
      });
}

void RedisCounterStore::evalOn(Slot& slot,
                               const LuaScript& script,
                               core::ScriptCall call,
                               Reply done) {
  slot.client->evalsha(script, std::move(call.keys), std::move(call.args), std::move(done));
}

void RedisCounterStore::evalCoalesced(Slot& slot, Lane& lane, core::ScriptCall call, Reply done) {
  lane.queued.push_back(Lane::Item{std::move(call), std::move(done)});
  if (lane.busy || lane.send_posted) return;
  // Idle: send after the handlers that are ready now have run, so that the calls they make
  // (several connections read in the same loop turn) go in the same batch.
  lane.send_posted = true;
  net::post(*slot.loop, [self = shared_from_this(), s = &slot, l = &lane] {
    l->send_posted = false;
    if (!l->busy) self->sendLane(*s, *l);
  });
}

void RedisCounterStore::sendLane(Slot& slot, Lane& lane) {
  if (lane.queued.empty()) {
    lane.busy = false;
    return;
  }
  lane.busy = true;
  const std::size_t n = std::min(lane.queued.size(), std::max<std::size_t>(1, options_.max_batch));
  Slot* s = &slot;
  Lane* l = &lane;
  if (n == 1) {
    Lane::Item item = std::move(lane.queued.front());
    lane.queued.pop_front();
    evalOn(slot, *lane.script, std::move(item.call),
           [self = shared_from_this(), s, l, done = std::move(item.done)](error_code ec,
                                                                          RedisReply reply) {
             self->sendLane(*s, *l);  // what queued meanwhile goes out before this is handled
             done(ec, std::move(reply));
           });
    return;
  }
  std::vector<core::ScriptCall> calls;
  std::vector<Reply> dones;
  calls.reserve(n);
  dones.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    calls.push_back(std::move(lane.queued.front().call));
    dones.push_back(std::move(lane.queued.front().done));
    lane.queued.pop_front();
  }
  evalOn(
      slot, *lane.script, core::batchCall(std::move(calls)),
      [self = shared_from_this(), s, l, dones = std::move(dones)](error_code ec, RedisReply reply) {
        self->sendLane(*s, *l);
        if (!ec && reply.isArray() && reply.elements.size() == dones.size()) {
          for (std::size_t i = 0; i < dones.size(); ++i) {
            dones[i]({}, std::move(reply.elements[i]));
          }
          return;
        }
        // A transport failure or an error reply for the whole call: every request gets it,
        // as every one of them would have on its own.
        if (!ec && !reply.isError()) {
          reply = RedisReply::fromError("unexpected batch reply: " + reply.toString());
        }
        for (const auto& done : dones) done(ec, reply);
      });
}

void RedisCounterStore::admit(const core::EnforcementPlan& plan,
                              const std::string& reservation_id,
                              std::chrono::system_clock::time_point expires_at,
                              AdmitCallback callback) {
  if (plan.denial) {
    core::AdmissionResult result;
    result.status = core::AdmissionResult::Status::Denied;
    result.denial = plan.denial;
    callback(std::move(result));
    return;
  }
  auto call =
      core::AdmitScript::call(keys_, plan, reservation_id, expires_at, options_.server_time);
  auto shared_plan = std::make_shared<const core::EnforcementPlan>(plan);
  onClient([self = shared_from_this(), shared_plan, id = reservation_id, call = std::move(call),
            callback = std::move(callback)](Slot& slot) mutable {
    // The caller gets an answer within admit_timeout; the reply may still come later.
    struct Pending {
      explicit Pending(net::io_context& loop, AdmitCallback cb)
          : timer(loop), callback(std::move(cb)) {}
      net::steady_timer timer;
      AdmitCallback callback;
      bool answered = false;
    };
    auto pending = std::make_shared<Pending>(*slot.loop, std::move(callback));
    const auto timeout = self->options_.admit_timeout;
    pending->timer.expires_after(timeout);
    pending->timer.async_wait([pending, timeout](const error_code& ec) {
      if (ec || pending->answered) return;
      pending->answered = true;
      auto done = std::move(pending->callback);
      done(admitError("redis admit: no answer within " + std::to_string(timeout.count()) + " ms"));
    });
    Slot* s = &slot;
    self->evalCoalesced(
        slot, slot.admits, std::move(call),
        [self, s, pending, shared_plan, id](error_code ec, RedisReply reply) {
          if (ec == net::error::not_connected || ec == net::error::no_buffer_space) {
            // Never written to a connection: Redis cannot run it, nothing to release.
          } else if (ec) {
            self->rememberUnanswered(*s, id);
          } else {
            self->releaseUnanswered(*s);  // Redis answers again
          }
          if (pending->answered) {
            // Too late: the caller was told StoreError. If Redis did admit it, give
            // the reservation back now rather than holding it until it expires.
            if (!ec && core::AdmitScript::parse(*shared_plan, toScriptValue(reply)).allowed()) {
              self->releaseLateAdmission(*s, id);
            }
            return;
          }
          pending->answered = true;
          pending->timer.cancel();
          auto done = std::move(pending->callback);
          done(ec ? admitError(transportError(s->client, "admit", ec))
                  : core::AdmitScript::parse(*shared_plan, toScriptValue(reply)));
        });
  });
}

void RedisCounterStore::releaseLateAdmission(Slot& slot, const std::string& reservation_id) {
  core::Settlement release{reservation_id, 0, 0, std::chrono::system_clock::now()};
  evalCoalesced(
      slot, slot.settles, core::SettleScript::call(keys_, release, options_.server_time),
      [self = shared_from_this(), reservation_id](error_code ec, RedisReply reply) {
        if (ec || reply.isError()) {
          self->logger_.warn("redis store: cannot release late admission " + reservation_id +
                             " (it expires on its own): " + (ec ? ec.message() : reply.str));
        }
      });
}

void RedisCounterStore::rememberUnanswered(Slot& slot, const std::string& reservation_id) {
  if (slot.unanswered.size() >= kMaxUnanswered) {
    logger_.warn("redis store: too many admits without a reply; " + slot.unanswered.front() +
                 " is not released and expires on its own");
    slot.unanswered.pop_front();
  }
  slot.unanswered.push_back(reservation_id);
}

void RedisCounterStore::releaseUnanswered(Slot& slot) {
  if (slot.releasing || slot.unanswered.empty() || !slot.client->connected()) return;
  slot.releasing = true;
  const std::size_t n = std::min(slot.unanswered.size(), kTombstoneBatch);
  std::vector<std::string> ids(slot.unanswered.begin(), slot.unanswered.begin() + n);
  slot.unanswered.erase(slot.unanswered.begin(), slot.unanswered.begin() + n);
  std::vector<core::ScriptCall> calls;
  calls.reserve(n);
  const auto now = std::chrono::system_clock::now();
  for (const auto& id : ids) {
    calls.push_back(core::SettleScript::tombstone(keys_, id, now, options_.server_time));
  }
  Slot* s = &slot;
  evalOn(slot, settle_script_, core::batchCall(std::move(calls)),
         [self = shared_from_this(), s, ids = std::move(ids)](error_code ec, RedisReply reply) {
           s->releasing = false;
           if (ec) {
             // Not through: they stay for the next time Redis answers (oldest first).
             s->unanswered.insert(s->unanswered.begin(), ids.begin(), ids.end());
             while (s->unanswered.size() > kMaxUnanswered) s->unanswered.pop_back();
             return;
           }
           // An error reply would come back the same on a retry: log it and let them expire.
           const bool whole = reply.isArray() && reply.elements.size() == ids.size();
           for (std::size_t i = 0; i < ids.size(); ++i) {
             const RedisReply& one = whole ? reply.elements[i] : reply;
             if (!whole || one.isError()) {
               self->logger_.warn("redis store: cannot release unanswered admit " + ids[i] +
                                  " (it expires on its own): " + one.toString());
             }
           }
           self->releaseUnanswered(*s);  // the rest, if more than one batch
         });
}

void RedisCounterStore::settle(const core::Settlement& settlement, SettleCallback callback) {
  auto call = core::SettleScript::call(keys_, settlement, options_.server_time);
  onClient([self = shared_from_this(), call = std::move(call),
            callback = std::move(callback)](Slot& slot) mutable {
    Slot* s = &slot;
    self->evalCoalesced(
        slot, slot.settles, std::move(call),
        [self, s, callback = std::move(callback)](error_code ec, RedisReply reply) {
          using Result = core::StoreResult<core::SettleResult>;
          callback(ec ? Result::failure(transportError(s->client, "settle", ec))
                      : core::SettleScript::parse(self->keys_, toScriptValue(reply)));
        });
  });
}

void RedisCounterStore::budgets(std::chrono::system_clock::time_point now,
                                BudgetsCallback callback) {
  auto call = core::BudgetsScript::call(keys_, now, options_.server_time);
  onClient([self = shared_from_this(), call = std::move(call),
            callback = std::move(callback)](Slot& slot) mutable {
    Slot* s = &slot;
    self->evalOn(slot, self->budgets_script_, std::move(call),
                 [self, s, callback = std::move(callback)](error_code ec, RedisReply reply) {
                   using Result = core::StoreResult<std::vector<core::BudgetSnapshot>>;
                   callback(ec ? Result::failure(transportError(s->client, "budgets", ec))
                               : core::BudgetsScript::parse(self->keys_, toScriptValue(reply)));
                 });
  });
}

void RedisCounterStore::reconcile(const core::Reconciliation& reconciliation,
                                  ReconcileCallback callback) {
  auto call = core::ReconcileScript::call(keys_, reconciliation, std::chrono::system_clock::now(),
                                          options_.server_time);
  onClient([self = shared_from_this(), call = std::move(call),
            callback = std::move(callback)](Slot& slot) mutable {
    Slot* s = &slot;
    self->evalOn(slot, self->reconcile_script_, std::move(call),
                 [self, s, callback = std::move(callback)](error_code ec, RedisReply reply) {
                   using Result = core::StoreResult<core::ReconcileResult>;
                   callback(ec ? Result::failure(transportError(s->client, "reconcile", ec))
                               : core::ReconcileScript::parse(self->keys_, toScriptValue(reply)));
                 });
  });
}

void RedisCounterStore::lease(core::ScriptCall call,
                              std::function<void(core::StoreResult<core::ScriptValue>)> done) {
  onClient([self = shared_from_this(), call = std::move(call),
            done = std::move(done)](Slot& slot) mutable {
    Slot* s = &slot;
    self->evalOn(slot, self->lease_script_, std::move(call),
                 [s, done = std::move(done)](error_code ec, RedisReply reply) {
                   using Result = core::StoreResult<core::ScriptValue>;
                   done(ec ? Result::failure(transportError(s->client, "lease", ec))
                           : Result::success(toScriptValue(reply)));
                 });
  });
}

void RedisCounterStore::spend(const std::string& spend_key, SpendCallback callback) {
  onClient([self = shared_from_this(), command = core::getSpendCommand(keys_, spend_key),
            callback = std::move(callback)](Slot& slot) mutable {
    Slot* s = &slot;
    s->client->command(std::move(command),
                       [s, callback = std::move(callback)](error_code ec, RedisReply reply) {
                         using Result = core::StoreResult<core::Picodollars>;
                         callback(ec ? Result::failure(transportError(s->client, "spend", ec))
                                     : core::parseSpend(toScriptValue(reply)));
                       });
  });
}

void RedisCounterStore::emergencyStop(EmergencyStopCallback callback) {
  emergencyStopCommand(core::getEmergencyStopCommand(keys_), std::move(callback));
}

void RedisCounterStore::emergencyStopCommand(std::vector<std::string> command,
                                             EmergencyStopCallback callback) {
  onClient([self = shared_from_this(), command = std::move(command),
            callback = std::move(callback)](Slot& slot) mutable {
    Slot* s = &slot;
    s->client->command(
        std::move(command), [s, callback = std::move(callback)](error_code ec, RedisReply reply) {
          using Result = core::StoreResult<core::EmergencyStopState>;
          callback(ec ? Result::failure(transportError(s->client, "emergency stop", ec))
                      : core::parseEmergencyStop(toScriptValue(reply)));
        });
  });
}

void RedisCounterStore::setEmergencyStop(const core::EmergencyStopState& state,
                                         EmergencyStopCallback callback) {
  onClient([self = shared_from_this(), state, command = core::setEmergencyStopCommand(keys_, state),
            callback = std::move(callback)](Slot& slot) mutable {
    Slot* s = &slot;
    s->client->command(std::move(command), [s, state, callback = std::move(callback)](
                                               error_code ec, RedisReply reply) {
      using Result = core::StoreResult<core::EmergencyStopState>;
      if (ec) return callback(Result::failure(transportError(s->client, "emergency stop", ec)));
      if (reply.isError()) return callback(Result::failure("emergency stop: " + reply.str));
      callback(Result::success(state));
    });
  });
}

void RedisCounterStore::replaceEmergencyStop(const core::EmergencyStopState& expected,
                                             const core::EmergencyStopState& next,
                                             EmergencyStopCallback callback) {
  emergencyStopCommand(core::replaceEmergencyStopCommand(keys_, expected, next),
                       std::move(callback));
}

}  // namespace spendgate::proxy
