#include "proxy/admin/admin_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <tuple>

#include "config/duration.hpp"
#include "core/enforcement/emergency_stop.hpp"
#include "core/json/plain_json.hpp"
#include "core/ledger/ledger_entry.hpp"
#include "core/memory/buffer_allowance.hpp"
#include "core/store/budget_listing.hpp"
#include "proxy/admin/admin_auth.hpp"
#include "proxy/admin/report_routes.hpp"
#include "proxy/alerts/alert_dispatcher.hpp"
#include "proxy/await_callback.hpp"
#include "proxy/enforcement/enforcer.hpp"
#include "proxy/http/origin_form.hpp"
#include "proxy/http/own_answer_date.hpp"
#include "proxy/logging/logger.hpp"
#include "proxy/metrics/prometheus_text.hpp"
#include "proxy/relay/request_parser.hpp"
#include "proxy/server/accept_loop.hpp"

namespace spendgate::proxy {

namespace http = beast::http;

namespace {

http::response<http::string_body> jsonResponse(http::status status, std::string body) {
  http::response<http::string_body> response{status, 11};
  response.set(http::field::content_type, "application/json");
  response.body() = std::move(body);
  return response;
}

http::response<http::string_body> jsonResponse(http::status status,
                                               const boost::json::value& body) {
  // Plain decimals: alert money and ratios are doubles, which Boost.JSON writes as "1E-2".
  return jsonResponse(status, core::serializePlain(body));
}

// What one admin request may be: Beast's own defaults for a request parser.
constexpr std::uint32_t kMaxHeadBytes = 8192;
constexpr std::uint64_t kMaxBodyBytes = 1024 * 1024;

http::response<http::string_body> errorResponse(http::status status, std::string_view message) {
  return jsonResponse(status, boost::json::value{{"error", message}});
}

/** @return the methods `path` takes, as an Allow header value; "" for no such route. */
std::string_view allowedMethods(std::string_view path) {
  // HEAD wherever GET is, as nginx: the same head, no body (serve() leaves it out).
  static constexpr std::pair<std::string_view, std::string_view> kRoutes[] = {
      {"/metrics", "GET, HEAD"},       {"/admin/status", "GET, HEAD"},
      {"/admin/budgets", "GET, HEAD"}, {"/admin/spend", "GET, HEAD"},
      {"/admin/alerts", "GET, HEAD"},  {"/admin/emergency-stop", "GET, HEAD, POST"},
      {"/admin/reload", "POST"},       {"/healthz", "GET, HEAD"},
      {"/readyz", "GET, HEAD"},
  };
  for (const auto& [route, allow] : kRoutes) {
    if (route == path) return allow;
  }
  return {};
}

/** @return whether `method` is one of the comma-separated methods in `allow`. */
bool allows(std::string_view allow, http::verb method) {
  const std::string_view name = http::to_string(method);
  for (std::size_t start = 0; start < allow.size();) {
    std::size_t end = allow.find(',', start);
    if (end == std::string_view::npos) end = allow.size();
    if (allow.substr(start, end - start) == name) return true;
    start = allow.find_first_not_of(' ', end + 1);
    if (start == std::string_view::npos) break;
  }
  return false;
}

/**
 * @param started when this process started: the `since` of a stop that was never switched
 *        (SPEC §5 types `since` as a time, never null).
 */
boost::json::value emergencyStopJson(const core::EmergencyStopState& stored,
                                     std::chrono::system_clock::time_point started) {
  boost::json::object out;
  // A stop whose `until` has passed reads as turned off at `until`, even before the timer
  // (Enforcer::refresh) rewrote the stored state.
  const auto state = core::expireEmergencyStop(stored, std::chrono::system_clock::now());
  out["active"] = state.active;
  out["reason"] = state.reason;
  out["since"] =
      core::formatRfc3339(state.since.time_since_epoch().count() == 0 ? started : state.since);
  out["until"] =
      state.until ? boost::json::value(core::formatRfc3339(*state.until)) : boost::json::value();
  out["source"] = core::emergencyStopSourceName(state.source);
  return out;
}

/**
 * Not in SPEC §5: `"warning"` when the memory store could not write the stop's file (it applies,
 * but a restart would lose it; docs/enforcement.md, "Across restarts"). Absent otherwise.
 */
boost::json::value withWarning(boost::json::value state, const std::string& warning) {
  if (!warning.empty()) {
    state.as_object()["warning"] =
        "not kept across restarts: " + warning + " (the stop applies in this process)";
  }
  return state;
}

net::awaitable<void> lingerBeforeClose(beast::tcp_stream& stream) {
  // As the proxy listener (and nginx's lingering_close) does: a client still sending the body
  // that was refused gets to finish, and reads the refusal instead of a reset on its next write.
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  std::array<char, 16384> sink;
  std::size_t drained = 0;
  // As the proxy listener: 30 s in all, 5 s between reads (nginx's lingering_time / _timeout).
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (drained < 64 * kMaxBodyBytes) {
    stream.expires_at(std::min(end, std::chrono::steady_clock::now() + std::chrono::seconds(5)));
    auto [ec, got] = co_await stream.async_read_some(net::buffer(sink), use_nothrow_any);
    if (ec) break;
    drained += got;
  }
}

}  // namespace

AdminServer::AdminServer(net::io_context& context,
                         Services services,
                         std::string token,
                         Hooks hooks)
    : context_(context),
      acceptor_(context),
      services_(services),
      token_(std::move(token)),
      hooks_(std::move(hooks)),
      accept_failures_("admin accept loop", [&logger = services.logger](const std::string& line) {
        logger.warn(line);
      }) {}

tcp::endpoint AdminServer::listen(const tcp::endpoint& endpoint) {
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(net::socket_base::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen();
  return acceptor_.local_endpoint();
}

void AdminServer::start() { net::co_spawn(context_, acceptLoop(), net::detached); }

void AdminServer::stop() {
  beast::error_code ignored;
  acceptor_.close(ignored);
  for (auto* socket : connections_) socket->close(ignored);
}

net::awaitable<void> AdminServer::acceptLoop() {
  // An accept error (out of file descriptors) pauses it instead of spinning, and neither it nor
  // an exception ends it (accept_loop.hpp).
  co_await acceptConnections(
      acceptor_, co_await net::this_coro::executor,
      [this](tcp::socket socket) {
        // A connection's exception ends that connection only, logged.
        net::co_spawn(context_, serve(std::move(socket)), [this](std::exception_ptr error) {
          if (!error) return;
          try {
            std::rethrow_exception(error);
          } catch (const std::exception& e) {
            services_.logger.error(std::string("admin connection failed: ") + e.what());
          } catch (...) {
            services_.logger.error("admin connection failed: unknown exception");
          }
        });
      },
      accept_failures_);
}

net::awaitable<void> AdminServer::serve(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  // A head and one read past it: a chunk-size line or trailer section that never ends fails the
  // read (buffer_overflow) instead of growing the buffer for ever.
  buffer.max_size(kMaxHeadBytes + 65536);
  connections_.insert(&stream.socket());
  // Out of the set however the coroutine ends (an exception, or its frame destroyed): stop()
  // closes what the set holds.
  struct Registration {
    std::unordered_set<tcp::socket*>& set;
    tcp::socket* socket;
    ~Registration() { set.erase(socket); }
  } registration{connections_, &stream.socket()};
  FlatFields fields;
  for (;;) {
    // Read by the proxy's own parser (Beast's request parser limits, 8 KiB of head and 1 MiB of
    // body), which never throws inside the read and drops a chunked body's trailer section,
    // bounded by the head's limit: Beast's basic_fields throws on a field over 64 KiB.
    http::request<http::string_body> request;
    {
      RequestParser parser(fields);
      parser.header_limit(kMaxHeadBytes);
      parser.body_limit(kMaxBodyBytes);
      stream.expires_after(std::chrono::seconds(30));
      auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_nothrow_any);
      if (ec == http::error::body_limit || ec == http::error::header_limit ||
          ec == http::error::buffer_overflow) {
        // Said, as the proxy listener says it, before the connection closes.
        const bool body = ec == http::error::body_limit;
        auto refusal = errorResponse(
            body ? http::status::payload_too_large : http::status::request_header_fields_too_large,
            body ? "request body is larger than " + std::to_string(kMaxBodyBytes) + " bytes"
                 : "request line and headers are larger than " + std::to_string(kMaxHeadBytes) +
                       " bytes");
        refusal.keep_alive(false);
        refusal.set(http::field::date, ownAnswerDate());
        refusal.prepare_payload();
        stream.expires_after(std::chrono::seconds(30));
        auto [wec, written] = co_await http::async_write(stream, refusal, use_nothrow_any);
        if (!wec) co_await lingerBeforeClose(stream);
      }
      if (ec) break;
      request.version(parser.version());
      if (parser.method() == http::verb::unknown) {
        request.method_string(parser.method_string());
      } else {
        request.method(parser.method());
      }
      request.target(parser.target());
      for (const auto& field : parser.fields()) {
        request.insert(field.name_string(), field.value());
      }
      request.body() = std::move(parser.body());
    }

    const bool routable = toOriginForm(request);
    // Not a conditional expression: GCC 12 miscompiles co_await in one (the answer lost fields).
    http::response<http::string_body> response;
    if (routable) {
      response = co_await route(request);
    } else {
      response = errorResponse(http::status::bad_request, "malformed request target");
    }
    response.keep_alive(routable && request.keep_alive());
    response.set(http::field::date, ownAnswerDate());  // as nginx
    response.prepare_payload();
    stream.expires_after(std::chrono::seconds(30));
    beast::error_code wec;
    if (request.method() == http::verb::head) {
      // RFC 9110 §9.3.2: the GET answer's head, Content-Length included, and no body (a body
      // would be read as the start of the next answer on this connection).
      http::response_serializer<http::string_body> serializer{response};
      std::tie(wec, std::ignore) =
          co_await http::async_write_header(stream, serializer, use_nothrow_any);
    } else {
      std::tie(wec, std::ignore) = co_await http::async_write(stream, response, use_nothrow_any);
    }
    if (wec || !response.keep_alive()) break;
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

net::awaitable<AdminServer::Response> AdminServer::route(const Request& request) {
  const std::string_view target = request.target();
  const std::string_view path = target.substr(0, target.find('?'));
  const auto notAllowed = [](std::string_view allow) {
    // RFC 9110 §15.5.6: a 405 names the methods the route takes.
    auto response = errorResponse(http::status::method_not_allowed, "use " + std::string(allow));
    response.set(http::field::allow, allow);
    return response;
  };
  if (path == "/healthz") {
    // No token here (liveness probes carry none), so its 405 comes before the token check.
    if (const auto allow = allowedMethods(path); !allows(allow, request.method())) {
      co_return notAllowed(allow);
    }
    Response response{http::status::ok, 11};
    response.set(http::field::content_type, "text/plain");
    response.body() = "ok";
    co_return response;
  }
  if (!token_.empty() && !adminTokenMatches(request[http::field::authorization], token_)) {
    auto response = errorResponse(http::status::unauthorized, "missing or wrong admin token");
    response.set(http::field::www_authenticate, "Bearer");
    co_return response;
  }
  if (const auto allow = allowedMethods(path); !allow.empty() && !allows(allow, request.method())) {
    co_return notAllowed(allow);
  }
  if (path == "/readyz") {
    const bool up = services_.enforcer.storeUp();
    Response response{up ? http::status::ok : http::status::service_unavailable, 11};
    response.set(http::field::content_type, "text/plain");
    response.body() = up ? "ok" : "store unavailable";
    co_return response;
  }
  if (path == "/admin/emergency-stop") co_return co_await emergencyStop(request);
  if (path == "/admin/alerts") {
    co_return jsonResponse(http::status::ok, boost::json::value(services_.alerts.recentJson()));
  }
  if (path == "/admin/reload") {
    // Answered once every worker has the new rules; the loop serves the rest meanwhile.
    const ReloadOutcome outcome =
        co_await awaitCallback<ReloadOutcome>([this](std::function<void(ReloadOutcome)> done) {
          hooks_.reload([done = std::move(done)](const ReloadOutcome& out) { done(out); });
        });
    boost::json::array errors;
    for (const auto& error : outcome.errors) errors.emplace_back(error);
    // A reload that silently keeps the old listen address reads as done when it is not.
    boost::json::array warnings;
    for (const auto& warning : outcome.warnings) warnings.emplace_back(warning);
    const bool reloaded = outcome.errors.empty();
    co_return jsonResponse(
        reloaded ? http::status::ok : http::status::bad_request,
        boost::json::value{{"reloaded", reloaded}, {"errors", errors}, {"warnings", warnings}});
  }
  if (path == "/metrics") {
    using Budgets = core::StoreResult<std::vector<core::BudgetSnapshot>>;
    const RuntimePtr runtime = hooks_.runtime();  // kept alive across the await
    const auto now = std::chrono::system_clock::now();
    ScrapeState state;
    auto budgets = co_await awaitCallback<Budgets>([&](std::function<void(Budgets)> done) {
      services_.enforcer.store().budgets(now, std::move(done));
    });
    // The same list as /admin/budgets: configured budgets show before their first request.
    if (budgets.ok())
      state.budgets = core::listBudgets(runtime->rules.budgets, std::move(*budgets.value), now);
    state.emergency_stop = services_.enforcer.emergencyStop();
    state.emergency_stop_blocks =
        core::emergencyStopBlocks(state.emergency_stop, std::chrono::system_clock::now());
    state.store_up = services_.enforcer.storeUp() && budgets.ok();
    state.fail_open_admissions = services_.enforcer.reconcileStats().local_admissions;
    state.buffered_bytes = services_.buffers.inUse();
    state.max_buffered_bytes = services_.buffers.total();
    Response response{http::status::ok, 11};
    response.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    MetricsShard merged;
    hooks_.merge_metrics(merged);
    response.body() = renderPrometheus(merged, state);
    co_return response;
  }
  if (path == "/admin/spend") co_return co_await handleSpend(request, services_.spend);
  if (path == "/admin/budgets") {
    const RuntimePtr runtime = hooks_.runtime();  // kept alive across the await
    co_return co_await handleBudgets(request, services_.enforcer, &runtime->rules.budgets);
  }
  if (path == "/admin/status") {
    const RuntimePtr runtime = hooks_.runtime();
    boost::json::object status;
    status["version"] = SPENDGATE_VERSION;
    status["uptime_s"] = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::steady_clock::now() - started_)
                             .count();
    status["store"] = {
        {"kind",
         runtime->config.store.kind == config::StoreConfig::Kind::Redis ? "redis" : "memory"},
        {"up", services_.enforcer.storeUp()}};
    status["emergency_stop"] = emergencyStopJson(services_.enforcer.emergencyStop(), started_wall_);
    status["requests_in_flight"] = hooks_.requests_in_flight();
    co_return jsonResponse(http::status::ok, status);
  }
  co_return errorResponse(http::status::not_found, "no such admin route");
}

net::awaitable<AdminServer::Response> AdminServer::emergencyStop(const Request& request) {
  using State = core::EmergencyStopState;
  using Result = core::StoreResult<State>;
  auto& enforcer = services_.enforcer;
  if (request.method() == http::verb::get || request.method() == http::verb::head) {
    auto state = co_await awaitCallback<Result>(
        [&](std::function<void(Result)> done) { enforcer.store().emergencyStop(std::move(done)); });
    if (!state.ok()) co_return errorResponse(http::status::service_unavailable, state.error);
    co_return jsonResponse(http::status::ok,
                           withWarning(emergencyStopJson(*state.value, started_wall_),
                                       enforcer.emergencyStopWarning()));
  }
  // route() let only GET, HEAD and POST through.
  boost::system::error_code ec;
  const auto body = boost::json::parse(request.body(), ec);
  if (ec || !body.is_object() || !body.as_object().contains("active") ||
      !body.at("active").is_bool()) {
    co_return errorResponse(http::status::bad_request,
                            R"(body must be {"active":true,"reason":"...","for":"1h"} or )"
                            R"({"active":false})");
  }
  const auto& object = body.as_object();
  // A typo must not silently change protection ({"fro":"10m"} would start an endless stop).
  for (const auto& field : object) {
    if (field.key() != "active" && field.key() != "reason" && field.key() != "for") {
      co_return errorResponse(
          http::status::bad_request,
          "unknown key \"" + std::string(field.key()) + "\" (accepted: active, reason, for)");
    }
  }
  const bool active = object.at("active").as_bool();
  // Turning off takes nothing else, as `spendgate estop off` takes no --reason or --for: a value
  // that would be dropped is refused instead.
  for (const char* key : {"reason", "for"}) {
    if (!active && object.contains(key)) {
      co_return errorResponse(
          http::status::bad_request,
          "\"" + std::string(key) +
              "\" only applies when turning the stop on: send {\"active\":false}");
    }
  }
  std::string reason = "turned on through the admin API";
  if (auto* value = object.if_contains("reason")) {
    if (!value->is_string()) {
      co_return errorResponse(http::status::bad_request, "\"reason\" must be a string");
    }
    reason = std::string(value->as_string());
  }
  std::optional<std::chrono::milliseconds> duration;
  if (auto* value = object.if_contains("for"); value && !value->is_null()) {
    std::optional<config::Millis> parsed;
    if (value->is_string()) parsed = config::parseDuration(value->as_string());
    if (!parsed || parsed->count() <= 0) {
      co_return errorResponse(http::status::bad_request,
                              "\"for\" must be a duration such as \"30m\" or \"2h\", "
                              "at most 36500d");
    }
    duration = *parsed;
  }

  const RuntimePtr runtime = hooks_.runtime();
  auto stored = co_await awaitCallback<Result>([&](std::function<void(Result)> done) {
    enforcer.changeEmergencyStop(
        [active, reason, duration, runtime](const State& current) {
          const auto now = std::chrono::system_clock::now();
          // Start from what GET shows: a stop that ran out is already off (so turning it off
          // does not suppress the auto trigger, exactly as after the timer stored the expiry).
          const auto shown = core::expireEmergencyStop(current, now);
          return active ? core::manualStop(shown, reason, duration, now)
                        : core::manualResume(shown, runtime->rules.emergency_stop, now);
        },
        std::move(done));
  });
  if (!stored.ok()) co_return errorResponse(http::status::service_unavailable, stored.error);
  services_.logger.warn(std::string("emergency stop turned ") + (active ? "on" : "off") +
                        " through the admin API" + (active ? ": " + reason : ""));
  co_return jsonResponse(http::status::ok,
                         withWarning(emergencyStopJson(*stored.value, started_wall_),
                                     enforcer.emergencyStopWarning()));
}

}  // namespace spendgate::proxy
