#include "proxy/alerts/alert_dispatcher.hpp"

#include <curl/curl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <list>
#include <map>
#include <set>
#include <unordered_map>

#include "core/ledger/ledger_entry.hpp"
#include "proxy/alerts/alert_messages.hpp"
#include "proxy/logging/logger.hpp"

namespace spendgate::proxy {

namespace {

using SteadyClock = std::chrono::steady_clock;
using SinkType = config::AlertSinkConfig::Type;

constexpr std::size_t kMaxResponseKept = 512;  // bytes of a failed answer kept for the error

core::AlertLevel toCoreLevel(config::AlertLevel level) {
  switch (level) {
    case config::AlertLevel::Info:
      return core::AlertLevel::Info;
    case config::AlertLevel::Warning:
      return core::AlertLevel::Warning;
    case config::AlertLevel::Critical:
      return core::AlertLevel::Critical;
    case config::AlertLevel::Exceeded:
      return core::AlertLevel::Exceeded;
  }
  return core::AlertLevel::Info;
}

std::string_view sinkTypeName(SinkType type) {
  switch (type) {
    case SinkType::Slack:
      return "slack";
    case SinkType::Webhook:
      return "webhook";
    case SinkType::Email:
      return "email";
  }
  return "webhook";
}

/** One configured sink with its URL resolved (url_env read at (re)load). */
struct SinkTarget {
  std::size_t index = 0;
  SinkType type = SinkType::Webhook;
  std::string url;  // slack/webhook URL, or smtp_url
  std::string from;
  std::vector<std::string> to;
  core::AlertLevel min_level = core::AlertLevel::Info;
  std::string error;  // configuration problem: every delivery to it fails with this
};

using Sinks = std::vector<std::shared_ptr<const SinkTarget>>;

std::shared_ptr<const Sinks> resolveSinks(const config::AlertsConfig& config, Logger& logger) {
  auto sinks = std::make_shared<Sinks>();
  for (std::size_t i = 0; i < config.sinks.size(); ++i) {
    const auto& c = config.sinks[i];
    auto s = std::make_shared<SinkTarget>();
    s->index = i;
    s->type = c.type;
    s->min_level = toCoreLevel(c.min_level);
    if (c.type == SinkType::Email) {
      s->url = c.smtp_url;
      s->from = c.from;
      s->to = c.to;
    } else if (!c.url_env.empty()) {
      const char* value = std::getenv(c.url_env.c_str());
      if (value == nullptr || *value == '\0') {
        s->error = "environment variable " + c.url_env + " is not set";
      } else {
        s->url = value;
      }
    } else {
      s->url = c.url;
    }
    if (s->error.empty() && s->url.empty()) s->error = "no URL configured";
    // An unset url_env is already a Runtime warning, logged at start and reload (and by check).
    if (!s->error.empty() && c.url_env.empty()) {
      logger.warn("alerts.sinks[" + std::to_string(i) + "] (" + std::string(sinkTypeName(c.type)) +
                  "): " + s->error + "; alerts to it will fail");
    }
    sinks->push_back(std::move(s));
  }
  return sinks;
}

bool isFinal(const std::string& delivery_status) {
  return delivery_status == "sent" || delivery_status == "failed" || delivery_status == "dropped";
}

void curlGlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t keepResponse(char* data, size_t size, size_t count, void* user) {
  auto* out = static_cast<std::string*>(user);
  const size_t bytes = size * count;
  if (out->size() < kMaxResponseKept) {
    out->append(data, std::min(bytes, kMaxResponseKept - out->size()));
  }
  return bytes;
}

}  // namespace

/** One alert and its record; guarded by State::mutex. */
struct AlertEntry {
  AlertRecord record;
  bool done = false;  // final status reached (counted out of State::outstanding)
};

/** One delivery of one alert to one sink; owned by the sender thread. */
struct AlertJob {
  std::shared_ptr<AlertEntry> entry;
  std::size_t delivery = 0;  // index in entry->record.deliveries
  std::shared_ptr<const SinkTarget> sink;
  std::string payload;
  std::size_t read_offset = 0;  // SMTP upload position
  std::string response;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  curl_slist* recipients = nullptr;
  char error[CURL_ERROR_SIZE] = {};
  int attempts = 0;
  SteadyClock::time_point next_at{};

  ~AlertJob() {
    if (headers != nullptr) curl_slist_free_all(headers);
    if (recipients != nullptr) curl_slist_free_all(recipients);
  }
};

struct AlertDispatcher::State : std::enable_shared_from_this<AlertDispatcher::State> {
  State(Logger& log, ClaimFunction claim_fn, AlertDispatchOptions opts)
      : logger(log), claim(std::move(claim_fn)), options(opts) {
    multi = curl_multi_init();
  }
  ~State() { curl_multi_cleanup(multi); }

  Logger& logger;
  ClaimFunction claim;
  AlertDispatchOptions options;
  CURLM* multi = nullptr;
  // Every socket libcurl has open for us (transfers and its connection cache), so that stopping
  // can cut them: see the end of run(). Only touched on the sender thread (curl's callbacks run
  // inside curl calls made there) and in the destructor, after that thread has ended.
  std::set<curl_socket_t> sockets;

  mutable std::mutex mutex;
  mutable std::condition_variable idle;
  std::deque<std::shared_ptr<AlertEntry>> incoming;  // to claim
  std::deque<std::shared_ptr<AlertEntry>> claimed;   // to send
  std::deque<std::shared_ptr<AlertEntry>> history;   // newest first
  std::shared_ptr<const Sinks> sinks;
  std::size_t outstanding = 0;
  bool stopping = false;

  std::mutex engine_mutex;
  core::AlertEngine engine;

  void wake() { curl_multi_wakeup(multi); }

  /** Sets the overall status from the deliveries; counts the entry out once it is final. */
  void settleStatus(AlertEntry& e) {
    auto& r = e.record;
    if (e.done) return;
    if (r.status == "duplicate" || r.status == "dropped") {
      markDone(e);
      return;
    }
    if (r.deliveries.empty()) {
      r.status = "no_sink";
      markDone(e);
      return;
    }
    std::size_t sent = 0, open = 0;
    for (const auto& d : r.deliveries) {
      if (d.status == "sent") ++sent;
      if (!isFinal(d.status)) ++open;
    }
    if (open > 0) {
      r.status = "pending";
      return;
    }
    bool any_dropped = false;
    for (const auto& d : r.deliveries) any_dropped = any_dropped || d.status == "dropped";
    r.status = sent == r.deliveries.size() ? "sent"
               : sent > 0                  ? "partial"
               : any_dropped               ? "dropped"
                                           : "failed";
    markDone(e);
  }

  void markDone(AlertEntry& e) {
    e.done = true;
    if (outstanding > 0) --outstanding;
    if (outstanding == 0) idle.notify_all();
  }

  void onClaimed(const std::shared_ptr<AlertEntry>& e, bool won) {
    {
      std::lock_guard lock(mutex);
      if (stopping || e->done) return;
      if (won) {
        e->record.status = "pending";
        claimed.push_back(e);
      } else {
        e->record.status = "duplicate";
        settleStatus(*e);
      }
    }
    if (won) wake();
  }

  void run();
  void startJobs(std::list<std::unique_ptr<AlertJob>>& jobs,
                 std::map<const SinkTarget*, std::size_t>& in_flight);
  void start(AlertJob& job);
  void finish(AlertJob& job, CURLcode result, std::map<const SinkTarget*, std::size_t>& in_flight);
};

namespace {

size_t readPayload(char* buffer, size_t size, size_t count, void* user) {
  auto* job = static_cast<AlertJob*>(user);
  const size_t room = size * count;
  const size_t left = job->payload.size() - job->read_offset;
  const size_t n = std::min(room, left);
  std::copy_n(job->payload.data() + job->read_offset, n, buffer);
  job->read_offset += n;
  return n;
}

}  // namespace

namespace {

int rememberSocket(void* state, curl_socket_t socket, curlsocktype) {
  static_cast<AlertDispatcher::State*>(state)->sockets.insert(socket);
  return CURL_SOCKOPT_OK;
}

int forgetSocket(void* state, curl_socket_t socket) {
  static_cast<AlertDispatcher::State*>(state)->sockets.erase(socket);
  return ::close(socket);
}

}  // namespace

void AlertDispatcher::State::start(AlertJob& job) {
  job.attempts += 1;
  job.response.clear();
  job.error[0] = '\0';
  job.read_offset = 0;
  CURL* easy = curl_easy_init();
  job.easy = easy;
  const auto timeout = static_cast<long>(options.attempt_timeout.count());
  curl_easy_setopt(easy, CURLOPT_URL, job.sink->url.c_str());
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, timeout);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, job.error);
  curl_easy_setopt(easy, CURLOPT_PRIVATE, &job);
  curl_easy_setopt(easy, CURLOPT_SOCKOPTFUNCTION, rememberSocket);
  curl_easy_setopt(easy, CURLOPT_SOCKOPTDATA, this);
  curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, forgetSocket);
  curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, this);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, keepResponse);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &job.response);
  if (job.sink->type == SinkType::Email) {
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(easy, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_TRY));
    curl_easy_setopt(easy, CURLOPT_MAIL_FROM, ("<" + job.sink->from + ">").c_str());
    curl_easy_setopt(easy, CURLOPT_MAIL_RCPT, job.recipients);
    curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(easy, CURLOPT_READFUNCTION, readPayload);
    curl_easy_setopt(easy, CURLOPT_READDATA, &job);
    curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(job.payload.size()));
  } else {
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, job.payload.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(job.payload.size()));
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, job.headers);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "spendgate/" SPENDGATE_VERSION);
  }
  curl_multi_add_handle(multi, easy);
}

void AlertDispatcher::State::startJobs(std::list<std::unique_ptr<AlertJob>>& jobs,
                                       std::map<const SinkTarget*, std::size_t>& in_flight) {
  const auto now = SteadyClock::now();
  for (auto& job : jobs) {
    if (job->easy != nullptr || job->next_at > now) continue;
    auto& busy = in_flight[job->sink.get()];
    if (busy >= options.max_in_flight_per_sink) continue;
    ++busy;
    start(*job);
    std::lock_guard lock(mutex);
    auto& d = job->entry->record.deliveries[job->delivery];
    d.attempts = job->attempts;
  }
}

void AlertDispatcher::State::finish(AlertJob& job,
                                    CURLcode result,
                                    std::map<const SinkTarget*, std::size_t>& in_flight) {
  long code = 0;
  curl_easy_getinfo(job.easy, CURLINFO_RESPONSE_CODE, &code);
  curl_multi_remove_handle(multi, job.easy);
  curl_easy_cleanup(job.easy);
  job.easy = nullptr;
  auto& busy = in_flight[job.sink.get()];
  if (busy > 0) --busy;

  bool ok = false;
  bool retry = true;
  std::string error;
  if (result != CURLE_OK) {
    error = job.error[0] != '\0' ? std::string(job.error) : curl_easy_strerror(result);
    retry = result != CURLE_URL_MALFORMAT && result != CURLE_UNSUPPORTED_PROTOCOL;
  } else if (job.sink->type == SinkType::Email || (code >= 200 && code < 300)) {
    ok = true;
  } else {
    error = "HTTP " + std::to_string(code);
    if (!job.response.empty()) error += ": " + job.response;
    retry = code == 408 || code == 429 || code >= 500;
  }

  std::string log_line;
  bool give_up = false;
  {
    std::lock_guard lock(mutex);
    auto& d = job.entry->record.deliveries[job.delivery];
    d.attempts = job.attempts;
    if (ok) {
      d.status = "sent";
      d.error.clear();
      d.sent_at = std::chrono::system_clock::now();
    } else {
      d.error = error;
      if (retry && job.attempts < options.max_attempts) {
        d.status = "retrying";
        job.next_at = SteadyClock::now() + options.first_backoff * (1LL << (job.attempts - 1));
      } else {
        d.status = "failed";
        give_up = true;
      }
    }
    settleStatus(*job.entry);
    log_line = "alert " + job.entry->record.alert.id + " to alerts.sinks[" +
               std::to_string(job.sink->index) + "] (" + std::string(sinkTypeName(job.sink->type)) +
               ")";
  }
  if (ok) {
    logger.info(log_line + ": sent");
  } else if (give_up) {
    logger.warn(log_line + ": given up after " + std::to_string(job.attempts) +
                (job.attempts == 1 ? " attempt: " : " attempts: ") + error);
  } else {
    logger.debug(log_line + ": attempt " + std::to_string(job.attempts) + " failed (" + error +
                 "), retrying");
  }
}

void AlertDispatcher::State::run() {
  std::list<std::unique_ptr<AlertJob>> jobs;
  std::map<const SinkTarget*, std::size_t> in_flight;
  std::unordered_map<CURL*, AlertJob*> by_handle;
  for (;;) {
    std::deque<std::shared_ptr<AlertEntry>> to_claim;
    std::deque<std::shared_ptr<AlertEntry>> to_send;
    std::shared_ptr<const Sinks> current;
    {
      std::lock_guard lock(mutex);
      if (stopping) break;
      to_claim.swap(incoming);
      to_send.swap(claimed);
      current = sinks;
    }

    // Claim outside the lock: the callback may run right here (memory) or later elsewhere.
    for (auto& e : to_claim) {
      try {
        claim(e->record.alert.id, [self = weak_from_this(), e](bool won) {
          if (auto s = self.lock()) s->onClaimed(e, won);
        });
      } catch (const std::exception& ex) {
        logger.warn("alert " + e->record.alert.id + ": claim failed (" + ex.what() +
                    "); sending anyway");
        onClaimed(e, true);
      }
    }

    // New deliveries: one job per sink that accepts the alert's level.
    std::vector<std::string> dropped;
    {
      std::lock_guard lock(mutex);
      for (auto& e : to_send) {
        if (e->done) continue;
        for (const auto& sink : *current) {
          if (e->record.alert.level < sink->min_level) continue;
          AlertDelivery d;
          d.sink = sink->index;
          d.type = std::string(sinkTypeName(sink->type));
          d.status = "pending";
          if (!sink->error.empty()) {
            d.status = "failed";
            d.error = sink->error;
            e->record.deliveries.push_back(std::move(d));
            continue;
          }
          e->record.deliveries.push_back(std::move(d));
          auto job = std::make_unique<AlertJob>();
          job->entry = e;
          job->delivery = e->record.deliveries.size() - 1;
          job->sink = sink;
          const auto& alert = e->record.alert;
          if (sink->type == SinkType::Email) {
            job->payload =
                emailMessage(alert, sink->from, sink->to, std::chrono::system_clock::now());
            for (const auto& to : sink->to) {
              job->recipients = curl_slist_append(job->recipients, ("<" + to + ">").c_str());
            }
          } else {
            job->payload =
                sink->type == SinkType::Slack ? slackPayload(alert) : webhookPayload(alert);
            job->headers = curl_slist_append(job->headers, "Content-Type: application/json");
            job->headers = curl_slist_append(job->headers, "Expect:");
            job->headers =
                curl_slist_append(job->headers, ("X-Spendgate-Alert-Id: " + alert.id).c_str());
          }
          jobs.push_back(std::move(job));
        }
        settleStatus(*e);
      }

      // Bounded backlog: beyond queue_capacity waiting deliveries, the oldest waiting one goes.
      std::size_t waiting = 0;
      for (const auto& job : jobs) waiting += job->easy == nullptr ? 1 : 0;
      for (auto it = jobs.begin(); waiting > options.queue_capacity && it != jobs.end();) {
        if ((*it)->easy != nullptr) {
          ++it;
          continue;
        }
        auto& d = (*it)->entry->record.deliveries[(*it)->delivery];
        d.status = "dropped";
        d.error = "alert queue full";
        settleStatus(*(*it)->entry);
        dropped.push_back((*it)->entry->record.alert.id + " to alerts.sinks[" +
                          std::to_string((*it)->sink->index) + "]");
        it = jobs.erase(it);
        --waiting;
      }
    }
    for (const auto& what : dropped) {
      logger.warn("alert queue full (" + std::to_string(options.queue_capacity) +
                  " waiting): dropped the oldest delivery, " + what);
    }

    startJobs(jobs, in_flight);

    // Sleep until curl has something, a retry is due, or wake() (new alerts, stop).
    auto wait = std::chrono::milliseconds(1000);
    const auto now = SteadyClock::now();
    for (const auto& job : jobs) {
      if (job->easy != nullptr) continue;
      if (in_flight[job->sink.get()] >= options.max_in_flight_per_sink) continue;
      const auto due = std::chrono::duration_cast<std::chrono::milliseconds>(job->next_at - now);
      wait = std::min(wait, std::max(due, std::chrono::milliseconds(0)));
    }
    curl_multi_poll(multi, nullptr, 0, static_cast<int>(wait.count()) + (wait.count() > 0 ? 1 : 0),
                    nullptr);
    int running = 0;
    curl_multi_perform(multi, &running);
    int left = 0;
    while (CURLMsg* message = curl_multi_info_read(multi, &left)) {
      if (message->msg != CURLMSG_DONE) continue;
      AlertJob* job = nullptr;
      curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &job);
      if (job == nullptr) continue;
      finish(*job, message->data.result, in_flight);
    }
    jobs.remove_if([this](const std::unique_ptr<AlertJob>& job) {
      if (job->easy != nullptr) return false;
      std::lock_guard lock(mutex);
      return isFinal(job->entry->record.deliveries[job->delivery].status);
    });
  }

  // Stopped: abandon what is left. Ending a transfer (or, later, the connection cache) makes
  // libcurl close its connection politely: for SMTP it sends QUIT and waits for the answer, up
  // to the attempt's timeout, so a mail server that hung held stop() and spendgate's exit after
  // SIGTERM for seconds. Shut every socket down first; the goodbyes then fail at once (curl
  // still owns the descriptors and closes them).
  for (const curl_socket_t socket : sockets) ::shutdown(socket, SHUT_RDWR);
  for (auto& job : jobs) {
    if (job->easy != nullptr) {
      curl_multi_remove_handle(multi, job->easy);
      curl_easy_cleanup(job->easy);
      job->easy = nullptr;
    }
  }
  std::lock_guard lock(mutex);
  for (auto& e : history) {
    if (e->done) continue;
    for (auto& d : e->record.deliveries) {
      if (!isFinal(d.status)) {
        d.status = "dropped";
        d.error = "dispatcher stopped";
      }
    }
    if (e->record.deliveries.empty()) e->record.status = "dropped";
    settleStatus(*e);
    if (!e->done) markDone(*e);
  }
  incoming.clear();
  claimed.clear();
  outstanding = 0;
  idle.notify_all();
}

// ---------------------------------------------------------------------------------------------

namespace {

core::AlertSettings engineSettings(const config::AlertsConfig& config,
                                   const AlertDispatchOptions& options) {
  core::AlertSettings settings = options.engine;
  settings.cooldown = std::chrono::milliseconds(config.cooldown.count());
  return settings;
}

}  // namespace

AlertDispatcher::AlertDispatcher(const config::AlertsConfig& config,
                                 const core::Rules& rules,
                                 Logger& logger,
                                 ClaimFunction claim,
                                 AlertDispatchOptions options) {
  curlGlobalInit();
  if (!claim) claim = memoryClaim();
  if (options.max_attempts < 1) options.max_attempts = 1;
  if (options.max_in_flight_per_sink < 1) options.max_in_flight_per_sink = 1;
  if (options.queue_capacity < 1) options.queue_capacity = 1;
  state_ = std::make_shared<State>(logger, std::move(claim), options);
  state_->sinks = resolveSinks(config, logger);
  state_->engine.reconfigure(rules.budgets, engineSettings(config, options));
  thread_ = std::thread([state = state_] { state->run(); });
}

AlertDispatcher::~AlertDispatcher() { stop(); }

void AlertDispatcher::stop() {
  std::call_once(stopped_, [this] {
    {
      std::lock_guard lock(state_->mutex);
      state_->stopping = true;
    }
    state_->wake();
    if (thread_.joinable()) thread_.join();
  });
}

void AlertDispatcher::onSettled(const std::vector<core::BudgetSnapshot>& budgets,
                                std::chrono::system_clock::time_point now) {
  if (budgets.empty()) return;
  std::vector<core::Alert> alerts;
  {
    std::lock_guard lock(state_->engine_mutex);
    state_->engine.onBudgetSettled(budgets, now, alerts);
  }
  if (!alerts.empty()) submit(std::move(alerts));
}

void AlertDispatcher::primeSettled(const std::vector<core::BudgetSnapshot>& budgets,
                                   std::chrono::system_clock::time_point now) {
  if (budgets.empty()) return;
  std::lock_guard lock(state_->engine_mutex);
  state_->engine.onBudgetSettled(budgets, now);  // marks what fired; nothing is queued
}

void AlertDispatcher::onEmergencyStopChanged(const core::EmergencyStopState& before,
                                             const core::EmergencyStopState& after,
                                             std::chrono::system_clock::time_point now) {
  std::vector<core::Alert> alerts;
  {
    std::lock_guard lock(state_->engine_mutex);
    alerts = state_->engine.onEmergencyStopChanged(before, after, now);
  }
  if (!alerts.empty()) submit(std::move(alerts));
}

void AlertDispatcher::submit(std::vector<core::Alert> alerts) {
  std::vector<std::string> dropped;
  {
    std::lock_guard lock(state_->mutex);
    if (state_->stopping) return;
    for (auto& alert : alerts) {
      auto e = std::make_shared<AlertEntry>();
      e->record.alert = std::move(alert);
      e->record.status = "claiming";
      ++state_->outstanding;
      state_->history.push_front(e);
      while (state_->history.size() > state_->options.history) state_->history.pop_back();
      state_->incoming.push_back(std::move(e));
      while (state_->incoming.size() > state_->options.queue_capacity) {
        auto& oldest = *state_->incoming.front();
        oldest.record.status = "dropped";
        state_->settleStatus(oldest);
        dropped.push_back(oldest.record.alert.id);
        state_->incoming.pop_front();
      }
    }
  }
  state_->wake();
  for (const auto& id : dropped) {
    state_->logger.warn("alert queue full (" + std::to_string(state_->options.queue_capacity) +
                        " waiting): dropped the oldest alert, " + id);
  }
}

void AlertDispatcher::reconfigure(const config::AlertsConfig& config, const core::Rules& rules) {
  auto sinks = resolveSinks(config, state_->logger);
  {
    std::lock_guard lock(state_->mutex);
    state_->sinks = std::move(sinks);
  }
  std::lock_guard lock(state_->engine_mutex);
  state_->engine.reconfigure(rules.budgets, engineSettings(config, state_->options));
}

std::vector<AlertRecord> AlertDispatcher::recent() const {
  std::lock_guard lock(state_->mutex);
  std::vector<AlertRecord> out;
  out.reserve(state_->history.size());
  for (const auto& e : state_->history) out.push_back(e->record);
  return out;
}

boost::json::object alertRecordJson(const AlertRecord& record) {
  auto out = core::alertToJson(record.alert);
  out["status"] = record.status;
  boost::json::array deliveries;
  for (const auto& d : record.deliveries) {
    boost::json::object o;
    o["sink"] = d.sink;
    o["type"] = d.type;
    o["status"] = d.status;
    o["attempts"] = d.attempts;
    o["error"] = d.error;
    if (d.sent_at) {
      o["sent_at"] = core::formatRfc3339(*d.sent_at);
    } else {
      o["sent_at"] = nullptr;
    }
    deliveries.push_back(std::move(o));
  }
  out["deliveries"] = std::move(deliveries);
  return out;
}

boost::json::array AlertDispatcher::recentJson() const {
  boost::json::array out;
  for (const auto& record : recent()) out.push_back(alertRecordJson(record));
  return out;
}

bool AlertDispatcher::waitIdle(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(state_->mutex);
  return state_->idle.wait_for(lock, timeout, [this] { return state_->outstanding == 0; });
}

AlertDispatcher::ClaimFunction AlertDispatcher::memoryClaim(std::chrono::milliseconds ttl) {
  struct Claims {
    std::mutex mutex;
    std::map<std::string, SteadyClock::time_point> until;
    SteadyClock::time_point next_sweep{};
  };
  auto claims = std::make_shared<Claims>();
  return [claims, ttl](const std::string& id, ClaimCallback done) {
    bool won = false;
    {
      std::lock_guard lock(claims->mutex);
      const auto now = SteadyClock::now();
      if (now >= claims->next_sweep) {
        std::erase_if(claims->until, [&](const auto& entry) { return entry.second <= now; });
        claims->next_sweep = now + std::chrono::minutes(1);
      }
      auto [it, inserted] = claims->until.try_emplace(id, now + ttl);
      if (!inserted && it->second <= now) {
        it->second = now + ttl;
        inserted = true;
      }
      won = inserted;
    }
    done(won);
  };
}

}  // namespace spendgate::proxy
