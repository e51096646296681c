#include "proxy/server/client_session.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <charconv>
#include <optional>
#include <span>
#include <tuple>

#include "core/enforcement/denial_messages.hpp"
#include "core/enforcement/emergency_stop.hpp"
#include "core/enforcement/planner.hpp"
#include "core/http/canonical_path.hpp"
#include "core/http/expectation.hpp"
#include "core/http/host_fields.hpp"
#include "core/http/request_line_version.hpp"
#include "core/http/transfer_coding.hpp"
#include "core/identity/virtual_key_format.hpp"
#include "core/ledger/ledger_entry.hpp"
#include "core/metering/include_usage_injector.hpp"
#include "core/metering/request_classifier.hpp"
#include "core/metering/unpriced_endpoint.hpp"
#include "core/metering/usage_chunk_filter.hpp"
#include "core/pricing/background_settlement.hpp"
#include "core/pricing/money.hpp"
#include "core/pricing/pricer.hpp"
#include "core/pricing/served_model_memory.hpp"
#include "core/stats/spend_stats.hpp"
#include "core/text/utf8.hpp"
#include "core/usage/usage_extractor.hpp"
#include "proxy/enforcement/enforcer.hpp"
#include "proxy/http/api_hint.hpp"
#include "proxy/http/origin_form.hpp"
#include "proxy/http/own_answer_date.hpp"
#include "proxy/identity/caller_key.hpp"
#include "proxy/ledger/ledger_writer.hpp"
#include "proxy/logging/logger.hpp"
#include "proxy/relay/content_decoder.hpp"
#include "proxy/relay/eager_write.hpp"
#include "proxy/relay/header_rewrite.hpp"
#include "proxy/relay/parse_buffered.hpp"
#include "proxy/relay/proxied_url.hpp"
#include "proxy/relay/request_decoding.hpp"
#include "proxy/relay/request_id.hpp"
#include "proxy/relay/request_parser.hpp"
#include "proxy/relay/response_parser.hpp"
#include "proxy/relay/wire_format.hpp"
#include "proxy/server/abandon_on_unwind.hpp"
#include "proxy/server/worker.hpp"
#include "proxy/upstream/upstream_connection.hpp"

namespace spendgate::proxy {

namespace http = beast::http;
using core::ProviderFormat;
using core::ProxyError;

/** The identity of a request not (yet) admitted: no key, no attribution. */
const core::Identity kNoIdentity{};
/** The caller's key of a request not (yet) admitted: none. */
const CallerKey kNoCaller{};

/** Everything about one request while it is being served. */
struct Exchange {
  // User-provided on purpose: make_shared value-initialises, which for an implicit constructor
  // first zeroes the whole object, tens of kilobytes of optional storage, on every request.
  Exchange() {}

  RuntimePtr runtime;
  const ProviderRuntime* provider = nullptr;
  const ProviderRuntime* path_provider = nullptr;  // where the path alone routes it
  core::ApiHint api_hint = core::ApiHint::None;    // read only when it can change the route
  // What the access log says of it: the session's record_, reset for each request (its strings
  // keep their capacity; the request id and target were an allocation each).
  RequestRecord* record = nullptr;
  std::chrono::steady_clock::time_point start;
  std::chrono::steady_clock::time_point deadline;  // start + request_timeout
  // The whole request body is in: an error answer closes without lingering (nothing of the
  // request is left to arrive, and the ledger line and access log do not wait for the client).
  bool request_body_read = false;
  std::chrono::steady_clock::time_point upstream_start;
  std::unique_ptr<UpstreamConnection> upstream;
  std::optional<ResponseParser> parser;  // fields kept in the session's response_fields_
  bool head = false;
  bool client_keep_alive = true;
  unsigned client_version = 11;
  bool finished = false;     // the disconnect watch must not act any more
  bool client_gone = false;  // the client closed its connection mid-exchange
  // The client left before a held answer (waitsOut): its socket is closed, but the upstream's
  // answer is still read, for the usage the provider will bill.
  bool waiting_out = false;
  bool counted = false;  // included in the worker's in-flight count
  bool closed = false;   // finish() has logged it (and uncounted it)

  // Metering.
  // Who it is charged to: the session's remembered identity (IdentityMemo), which stays as it is
  // until the connection's next request is admitted, after this one is settled. Not a copy: five
  // strings assigned per request.
  const core::Identity* identity = &kNoIdentity;
  // The caller's key: the session's (caller_), which stays as it is until the connection's next
  // request is admitted. Not a copy: the key string allocated per request.
  const CallerKey* caller = &kNoCaller;
  core::RequestInfo info;
  // The worst case admission reserved: what a request whose pricing fails twice is charged
  // (priceAtWorstCase), and the rates an answer priced above it is told by (price).
  core::WorstCase worst;

  /**
   * The worst case's output bound, when the model is priced: an estimated settlement never passes
   * it. (An unpriced model's worst case has no output bound.)
   */
  std::optional<std::int64_t> outputTokensBound() const {
    if (!worst.priced) return std::nullopt;
    return worst.output_tokens_bound;
  }
  core::Spending spending = core::Spending::Priced;
  std::optional<core::UsageExtractor> usage;
  int answer_status = 0;       // the upstream's, which `usage` was made for
  bool usage_reading = false;  // price() has begun reading the answer's usage ...
  bool usage_read = false;     // ... and has it in `result`: a re-run reads nothing again
  std::optional<core::UsageChunkFilter> usage_filter;  // set when include_usage was injected
  std::string decoded;   // the current piece, decoded, when the upstream compressed its answer
  std::string filtered;  // the filter's output for the current piece
  // A non-streamed metered answer is held until its cost is known in the session's
  // held_answer_ (relayResponse).
  bool usage_in_whole = false;  // `usage` has not been fed the held answer: finish() reads it there
  bool forwarded = false;       // reached the point of calling the upstream: gets a ledger line
  bool awaiting_answer = false;    // the whole request went upstream, no answer head came back yet
  bool no_answer_in_time = false;  // ... and none came before first_byte_timeout/request_timeout
  bool priced = false;             // usage read and cost known (result, cost, price_source)
  bool counters_settled = false;   // the reservation and rate limits are settled
  bool settled = false;            // ... and the ledger line written
  std::chrono::system_clock::time_point settled_at;
  core::UsageResult result;
  core::Picodollars cost = 0;
  std::string_view price_source;  // static text (Cost::price_source, "unmetered" or "none")
  // `cost` as formatUsd spells it, formatted once for the cost header and the ledger line.
  char cost_usd[core::kMaxUsdChars];
  std::size_t cost_usd_size = 0;  // 0: not formatted yet

  /** @return formatUsd(cost); only once the request is priced (price()). */
  std::string_view costUsd() {
    if (cost_usd_size == 0) cost_usd_size = core::formatUsdTo(cost_usd, cost) - cost_usd;
    return {cost_usd, cost_usd_size};
  }

  // The model label for metrics: the priced model once known (a view of `result.usage.model` or
  // `info.requested_model`, which do not change once the request is priced).
  std::string_view metric_model;

  // Enforcement.
  Enforcer::Admitter admitter = Enforcer::Admitter::None;
  core::RateLimitHeaders rate_limits;
};

namespace {

constexpr std::size_t kRelayBufferSize = 8192;
// The most one step of the relay decodes from a compressed answer before it is written: one
// compressed piece can decode to megabytes.
constexpr std::size_t kDecodedPiece = 64 * 1024;
constexpr std::string_view kUploadUrlHeader = "x-goog-upload-url";
constexpr std::string_view k100Continue = "HTTP/1.1 100 Continue\r\n\r\n";
// After refusing a request whose body is still arriving, read and drop up to kLingerBytes of it
// so the client sees our answer instead of a reset (SDKs retry a reset): for at most kLingerTime
// in all and kLingerIdle between reads, as nginx's lingering_time and lingering_timeout. The
// bytes are above the largest usual max_body_bytes (a body just past the 10 MiB default, sent in
// one go, got a reset at 4 MiB), and the time lets a slow uploader finish (2 s in all reset one
// sending under ~5 MB/s: review 23 F6).
constexpr std::size_t kLingerBytes = 64 * 1024 * 1024;
constexpr std::chrono::seconds kLingerTime{30};
constexpr std::chrono::seconds kLingerIdle{5};
constexpr std::chrono::seconds kErrorWriteTimeout{10};
// A non-streamed metered answer is held until it is complete so its cost can go in a header;
// a larger one is relayed as it comes, without the header.
constexpr std::size_t kMaxHeldAnswer = 16 * 1024 * 1024;
// The most a held answer's buffer grows to: the hold limit and the piece that passes it.
constexpr std::size_t kMaxHeldBuffer = kMaxHeldAnswer + 128 * 1024;
// The most of a held answer's buffer a connection keeps for its next answer.
constexpr std::size_t kKeptHeldAnswer = 16 * 1024;

/** What the exchange's usage reader is made with besides the request and the answer's head. */
core::UsageExtractor::Limits usageLimits(const Exchange& ex, core::BufferAllowance& buffers) {
  core::UsageExtractor::Limits limits;
  limits.output_tokens_bound = ex.outputTokensBound();
  limits.buffers = &buffers;
  return limits;
}

double millisSince(std::chrono::steady_clock::time_point from,
                   std::chrono::steady_clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

bool isQuietClose(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == net::error::eof ||
         ec == net::error::connection_reset || ec == net::error::operation_aborted ||
         ec == net::error::bad_descriptor || ec == net::error::broken_pipe;
}

// A reused keep-alive connection the upstream had already closed fails like this before any
// byte of the answer; such a request never reached the upstream and can go on a new one.
bool isStaleConnectionError(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == net::error::eof ||
         ec == net::error::connection_reset || ec == net::error::broken_pipe ||
         ec == ssl::error::stream_truncated;
}

/**
 * Whether a client leaving should leave the upstream running (docs/metering.md, "A client that
 * leaves"): a non-streamed metered call the provider finishes and bills anyway, whose answer
 * carries its usage. A stream is closed instead (the provider stops generating) and estimated.
 */
bool waitsOut(const Exchange& ex) {
  return !ex.info.stream && ex.info.kind != core::EndpointKind::Unmetered;
}

/** 1xx other than 101: an interim answer, before the final one (RFC 9110 §15.2). */
bool isInterimStatus(unsigned status) { return status / 100 == 1 && status != 101; }

std::string describe(const beast::error_code& ec) {
  if (ec == beast::error::timeout) return "timeout";
  return ec.message();
}

// OpenAI's spelling of durations in x-ratelimit-reset-*: "250ms", "1.5s", "6m0s", and "0s" for
// nothing to wait (Go's time.Duration format, which theirs follows). Written into a stack buffer:
// the std::to_string pieces and their concatenations allocated on every answer.
std::string formatReset(std::chrono::milliseconds reset) {
  const std::int64_t ms = reset.count() < 0 ? 0 : reset.count();
  if (ms == 0) return "0s";
  char text[64];  // at most two 19-digit numbers and three more characters
  char* p = text;
  if (ms < 1000) {
    p = std::to_chars(p, p + 20, ms).ptr;
    *p++ = 'm';
    *p++ = 's';
  } else if (ms < 60000) {
    p = std::to_chars(p, p + 20, ms / 1000).ptr;
    if (int fraction = static_cast<int>(ms % 1000); fraction != 0) {
      *p++ = '.';
      for (int scale = 100; fraction != 0; scale /= 10) {
        *p++ = static_cast<char>('0' + fraction / scale);
        fraction %= scale;
      }
    }
    *p++ = 's';
  } else {
    p = std::to_chars(p, p + 20, ms / 60000).ptr;
    *p++ = 'm';
    p = std::to_chars(p, p + 20, (ms % 60000) / 1000).ptr;
    *p++ = 's';
  }
  return std::string(text, p);
}

// The headers relayResponse writes itself (an upstream's copies of them are dropped): its own
// two, then OpenAI's x-ratelimit-{limit,remaining,reset}-{requests,tokens}, which it writes only
// where a rate limit applies.
constexpr std::string_view kOwnResponseHeaders[] = {
    "x-spendgate-request-id",         "x-spendgate-cost-usd",       "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests", "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens",   "x-ratelimit-reset-tokens"};
constexpr std::size_t kSpendgateHeaderCount = 2;
// What a relayed answer loses of the upstream's headers when spendgate sets only the tokens
// family (the requests-only case is the first five of kOwnResponseHeaders): the upstream's own
// family that spendgate does not set stays, so a client still sees the provider's limit there.
constexpr std::string_view kOwnHeadersWithTokens[] = {
    "x-spendgate-request-id", "x-spendgate-cost-usd", "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"};

/** The header names of ours that replace the upstream's in a relayed answer. */
std::span<const std::string_view> ownResponseHeaders(const core::RateLimitHeaders& limits) {
  if (limits.requests && limits.tokens) return kOwnResponseHeaders;
  if (limits.requests) return std::span(kOwnResponseHeaders).first(kSpendgateHeaderCount + 3);
  if (limits.tokens) return kOwnHeadersWithTokens;
  return std::span(kOwnResponseHeaders).first(kSpendgateHeaderCount);
}

/** Calls emit(name, value) for each x-ratelimit-* header that `limits` has. */
template <class Emit>
void forEachRateLimitHeader(const core::RateLimitHeaders& limits, Emit&& emit) {
  const auto names = std::span(kOwnResponseHeaders).subspan(kSpendgateHeaderCount);
  const std::optional<core::RateLimitStatus>* families[] = {&limits.requests, &limits.tokens};
  for (std::size_t family = 0; family < 2; ++family) {
    const auto& status = *families[family];
    if (!status) continue;
    const auto name = names.subspan(3 * family, 3);  // limit, remaining, reset
    char number[24];
    for (const auto& [index, value] : {std::pair{0, status->limit}, {1, status->remaining}}) {
      const auto end = std::to_chars(number, number + sizeof number, value).ptr;
      emit(name[index], std::string_view(number, end - number));
    }
    emit(name[2], formatReset(status->reset));
  }
}

/** The x-spendgate-{user,team,customer,agent} headers (the first of each, as operator[] gives),
 * read in one walk over the fields instead of four case-insensitive searches of Beast's tree. */
template <class Fields>
core::IdentityResolver::Headers claimedIdentity(const Fields& fields) {
  core::IdentityResolver::Headers claimed;
  bool seen[4] = {};
  constexpr std::string_view kPrefix = "x-spendgate-";
  for (const auto& field : fields) {
    const std::string_view name = field.name_string();
    if (field.name() != http::field::unknown || name.size() < kPrefix.size() + 4 ||
        !beast::iequals(name.substr(0, kPrefix.size()), kPrefix)) {
      continue;
    }
    const std::string_view rest = name.substr(kPrefix.size());
    std::string_view* slots[] = {&claimed.user, &claimed.team, &claimed.customer, &claimed.agent};
    constexpr std::string_view kNames[] = {"user", "team", "customer", "agent"};
    for (std::size_t i = 0; i < 4; ++i) {
      if (!seen[i] && beast::iequals(rest, kNames[i])) {
        *slots[i] = field.value();
        seen[i] = true;
        break;
      }
    }
  }
  return claimed;
}

/** Whether the request can be a billed call (core::methodMayBill), read as its upstream would:
 * a safe method that names another in a method-override header (Google's front ends honour
 * X-HTTP-Method-Override) is read as a call. */
template <class Request>
bool mayBill(const Request& request) {
  if (core::methodMayBill(request.method_string())) return true;
  for (const auto& field : request.fields()) {
    const std::string_view name = field.name_string();
    if (field.name() == http::field::unknown &&
        (beast::iequals(name, "x-http-method-override") || beast::iequals(name, "x-http-method") ||
         beast::iequals(name, "x-method-override"))) {
      return true;
    }
  }
  return false;
}

core::ProxyError toProxyError(core::DenialReason reason) {
  switch (reason) {
    case core::DenialReason::EmergencyStop:
      return ProxyError::EmergencyStop;
    case core::DenialReason::UnknownKey:
      return ProxyError::UnknownKey;
    case core::DenialReason::RequestCost:
      return ProxyError::RequestCost;
    case core::DenialReason::RateLimit:
      return ProxyError::RateLimit;
    case core::DenialReason::Budget:
      return ProxyError::Budget;
    case core::DenialReason::StoreUnavailable:
      return ProxyError::StoreUnavailable;
    case core::DenialReason::UnknownModel:
      return ProxyError::UnknownModel;
  }
  return ProxyError::Budget;
}

/** Every Transfer-Encoding field's value, joined with ","; nullopt when there is none. */
/** Every `name` field's value joined with "," (a list field, RFC 9110 §5.3); none: nullopt. */
std::optional<std::string> joinedValues(const FlatFields& fields, http::field name) {
  std::optional<std::string> joined;
  for (const auto& field : fields) {
    if (field.name() != name) continue;
    if (joined) {
      *joined += ',';
    } else {
      joined.emplace();
    }
    *joined += field.value();
  }
  return joined;
}

/** Why `path` cannot be metered under `ex`'s route ("" when it can): see serveOne. */
std::string pathProblem(const Runtime& runtime,
                        const Exchange& ex,
                        const core::CanonicalPath& path) {
  if (!path.valid()) return std::string(path.problem());
  if (!path.rewritten()) return {};
  // Both readings must agree on the route by the path alone too: a hint must not make a path
  // that decodes under another provider's route acceptable.
  const auto index = runtime.routes.match(path.view(), ex.api_hint);
  const auto by_path = runtime.routes.match(path.view());
  if (index && &runtime.providers[*index] == ex.provider && by_path &&
      &runtime.providers[*by_path] == ex.path_provider) {
    return {};
  }
  return "percent-decoded, with its dot segments resolved, it is under another provider route or "
         "none";
}

}  // namespace

ClientSession::ClientSession(Socket socket, Worker& worker)
    : socket_(std::move(socket)), worker_(worker) {
  // What the parser has not taken yet: a head (at most 64 KiB, server.max_header_bytes) and one
  // read past it. Beast buffers a chunk-size line or a trailer section until its end with no
  // limit of its own; past this the read fails (buffer_overflow) instead of growing for ever.
  buffer_.max_size(kMaxUnparsedBytes);
  held_grant_.use(&worker_.buffers());
  beast::error_code ignored;
  socket_.non_blocking(true, ignored);  // for writeAtOnce
  worker_.add(this);
}

ClientSession::~ClientSession() {
  // A session torn down while serving a request (its coroutine destroyed without finishing: an
  // exception out of one of its handlers, caught at the event loop) still settles it.
  abandon("the connection's session ended before its request was finished");
  worker_.remove(this);
}

void ClientSession::start(std::shared_ptr<ClientSession> session) {
  auto* self = session.get();
  net::co_spawn(
      self->socket_.get_executor(),
      [session = std::move(session)]() -> Awaitable<void> {
        // No exception of one connection's may end the process or leave its request unsettled:
        // the session is torn down as a failed connection is (not awaited in the handler). One
        // thrown inside a composed operation never gets here: the guard abandons the session as
        // this frame is unwound, not once the last pending operation lets go of it.
        AbandonOnUnwind guard(*session, "internal error: an operation of the connection failed");
        std::string failure;
        try {
          co_await session->run();
        } catch (const std::exception& e) {
          failure = e.what();
        } catch (...) {
          failure = "unknown exception";
        }
        if (!failure.empty()) {
          session->worker_.logger().error("session failed: " + failure);
          session->abandon("internal error: " + failure);
        }
        guard.dismiss();
      },
      [&logger = self->worker_.logger()](std::exception_ptr error) {
        if (error) logger.error("session failed outside its request");
      });
}

void ClientSession::abandon(std::string_view why) noexcept {
  std::shared_ptr<Exchange> current_exchange;
  try {
    beast::error_code ignored;
    socket_.close(ignored);
    if (watching_) {
      watching_ = false;
      socket_.cancel(ignored);
    }
    current_exchange = std::exchange(current_, nullptr);
    in_flight_.reset();
    if (!current_exchange || current_exchange->closed) return;
    Exchange& ex = *current_exchange;
    ex.finished = true;
    if (ex.upstream) ex.upstream->close();
    // Charged as a connection that failed there: what the answer showed of its usage, else the
    // estimate of a request the upstream may have read (price()).
    if (ex.record->status == 0) ex.record->status = 502;
    ex.record->error = why;
    // settle() does nothing for a request that was not forwarded: none of those holds a
    // reservation (an admitted request is forwarded at once, serveOne).
    try {
      settle(ex);
    } catch (...) {
      // Pricing it, settling its counters or writing its line failed (again). SPEC §6: it still
      // gets its one line. Unpriced, it is charged the worst case its reservation holds (what
      // the provider may bill at most; docs/metering.md), and the counters and the line both
      // say so. Each is tried once more on its own: a store that fails keeps no line back.
      if (ex.forwarded && !ex.priced) {
        priceAtWorstCase(ex);
        try {
          worker_.logger().error(ex.record->request_id +
                                 ": pricing failed again; charged the worst case reserved");
        } catch (...) {
        }
      }
      try {
        settleCountersAsPriced(ex);
      } catch (...) {
      }
      writeLine(ex);
    }
  } catch (...) {
    // Nothing more can be done for its counters; it is still logged and uncounted below.
  }
  try {
    if (current_exchange && !current_exchange->closed) finish(*current_exchange);
  } catch (...) {
    // Nothing more can be done for it; the process goes on.
  }
}

void ClientSession::drain() {
  draining_ = true;
  // A connection only draining a refused body goes too: its answer is out.
  if (waiting_for_request_ || lingering_) close();
}

void ClientSession::close() {
  beast::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  // An answer read for a client that has left (waiting_out) has no client socket to fail on.
  if (in_flight_ && in_flight_->upstream) {
    // Cut off at the shutdown grace's end while the upstream still works on the whole request:
    // charged as a timeout is (price()), not as a call the provider stopped.
    if (in_flight_->awaiting_answer) in_flight_->no_answer_in_time = true;
    in_flight_->upstream->close();
  }
}

Awaitable<void> ClientSession::run() {
  while (co_await serveOne()) {
  }
  beast::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
  socket_.close(ignored);
}

Awaitable<bool> ClientSession::serveOne() {
  if (draining_ || worker_.draining()) co_return false;
  // For reading the request (limits, timeouts); the exchange takes the rules once the head came.
  RuntimePtr reading_runtime = worker_.runtime();
  const auto& server = reading_runtime->config.server;

  Request parser(request_fields_, request_target_, request_body_);
  parser.header_limit(static_cast<std::uint32_t>(server.max_header_bytes));
  parser.body_limit(server.max_body_bytes);

  waiting_for_request_ = true;
  // The whole head must arrive within idle_timeout of the last answer; the body may take longer
  // as long as no gap between its reads does (below).
  const auto head_deadline = Clock::now() + server.idle_timeout;
  deadline_.arm(head_deadline);
  auto [ec, header_bytes] = co_await http::async_read_header(socket_, buffer_, parser, use_nothrow);
  ec = deadline_.finish(ec);
  // Beast reads HTTP/1.0 and 1.1 only, and calls any other version malformed. HTTP/1.2 to 1.9 are
  // read as 1.1 (RFC 9112 §2.3); another major is 505 (RFC 9110 §15.6.6), as nginx answers, in
  // the format of the route its target names: the head is read on as 1.1 for that, and answered
  // 505 whatever else it holds. The refused line is still in the buffer, where the version's
  // digits are overwritten (basic_parser leaves its state as it was before the line).
  std::optional<core::RequestLineVersion> unsupported_version;
  if (ec == http::error::bad_version) {
    // Beast judges the version as soon as its eight bytes are in, before the line's CRLF: a
    // first read that ends there is read on (up to the head limit) until the line is whole.
    auto lineOf = [this] {
      return std::string_view(static_cast<const char*>(buffer_.data().data()),
                              buffer_.data().size());
    };
    while (lineOf().find("\r\n") == std::string_view::npos &&
           buffer_.size() < server.max_header_bytes) {
      deadline_.arm(head_deadline);
      auto [rec, n] = co_await socket_.async_read_some(
          buffer_.prepare(std::min<std::size_t>(4096, server.max_header_bytes - buffer_.size())),
          use_nothrow);
      if (const auto read_ec = deadline_.finish(rec)) {
        ec = read_ec;  // closed or timed out: handled below as for any head
        break;
      }
      buffer_.commit(n);
    }
    auto* bytes = static_cast<char*>(buffer_.data().data());
    const auto version = ec == http::error::bad_version ? core::readRequestLineVersion(lineOf())
                                                        : core::RequestLineVersion{};
    if (version.kind == core::RequestLineVersion::Kind::HigherMinor ||
        version.kind == core::RequestLineVersion::Kind::UnsupportedMajor) {
      if (version.kind == core::RequestLineVersion::Kind::UnsupportedMajor) {
        unsupported_version = version;
      }
      bytes[version.major_at] = '1';
      bytes[version.major_at + 2] = '1';
      deadline_.arm(head_deadline);
      auto [again, more] = co_await http::async_read_header(socket_, buffer_, parser, use_nothrow);
      ec = deadline_.finish(again);
      header_bytes += more;
    }
  }
  waiting_for_request_ = false;

  auto exchange = std::make_shared<Exchange>();
  Exchange& ex = *exchange;
  // The rules in force when the head came, not when the connection began to wait for it: a
  // kept-alive connection may have waited across a reload. The read limits above stay; the
  // request's deadline is the new rules' (its reservation expires by them).
  ex.runtime = worker_.runtime();
  ex.start = std::chrono::steady_clock::now();
  ex.deadline = ex.start + ex.runtime->config.server.request_timeout;
  record_.clear();
  ex.record = &record_;
  newRequestId(ex.record->request_id);
  ex.record->bytes_in = header_bytes;

  auto& request = parser;
  bool bad_target = false;
  // Beast parses the request line before the fields, so even a header over the limit or a
  // malformed field (two Content-Lengths, a bad Transfer-Encoding) has a target to choose the
  // error format by; a start line that did not parse leaves the target empty.
  bool absolute_form = false;
  if (!ec || ec == http::error::body_limit || ec == http::error::header_limit ||
      !request.target().empty()) {
    ex.record->method.assign(request.method_string());
    ex.head = request.method() == http::verb::head;  // even the errors below go without a body
    absolute_form = !core::isOriginForm(request.target());
    bad_target = !toOriginForm(request);
    redactTarget(request.target(), ex.record->target);
    if (bad_target) {
      // Routed nowhere: the 400 below goes in OpenAI's format.
    } else if (auto index = ex.runtime->routes.match(request.target())) {
      ex.path_provider = &ex.runtime->providers[*index];
      if (ex.runtime->routes.hintMatters(*index)) {
        ex.api_hint = apiHintOf(request.fields(), request.target());
        index = ex.runtime->routes.match(request.target(), ex.api_hint);
      }
      ex.provider = &ex.runtime->providers[*index];
      ex.record->provider = ex.provider->config.name;
    }
  }
  const ProviderFormat format = ex.provider ? ex.provider->config.format : ProviderFormat::OpenAI;

  if (unsupported_version && !isQuietClose(ec) && ec != beast::error::timeout) {
    co_await sendError(ex, format, ProxyError::HttpVersionNotSupported,
                       std::string("HTTP/") + unsupported_version->major + '.' +
                           unsupported_version->minor +
                           " is not supported: spendgate reads HTTP/1.0 and HTTP/1.1",
                       false);
    finish(ex);
    co_return false;
  }
  if (ec) {
    if (ec == http::error::header_limit) {
      co_await sendError(ex, format, ProxyError::HeaderTooLarge,
                         "request line and headers are larger than " +
                             std::to_string(server.max_header_bytes) + " bytes",
                         false);
    } else if (ec == http::error::body_limit) {
      co_await sendError(
          ex, format, ProxyError::BodyTooLarge,
          "request body is larger than " + std::to_string(server.max_body_bytes) + " bytes", false);
    } else if (isQuietClose(ec) || ec == beast::error::timeout) {
      co_return false;  // the client went away or stayed idle: nothing to answer
    } else {
      co_await sendError(ex, format, ProxyError::BadRequest, "malformed request: " + ec.message(),
                         false);
    }
    finish(ex);
    co_return false;
  }
  if (bad_target) {
    co_await sendError(ex, format, ProxyError::BadRequest,
                       "malformed request target: neither a path nor an absolute URI", false);
    finish(ex);
    co_return false;
  }
  // One pass over the fields for the three checks below (most requests have no Transfer-Encoding
  // or Expect: their values are joined only when present).
  std::size_t host_fields = 0;
  bool has_transfer_encoding = false;
  bool has_expect = false;
  for (const auto& field : request.fields()) {
    switch (field.name()) {
      case http::field::host:
        ++host_fields;
        break;
      case http::field::transfer_encoding:
        has_transfer_encoding = true;
        break;
      case http::field::expect:
        has_expect = true;
        break;
      default:
        break;
    }
  }
  if (const auto problem = core::hostFieldsProblem(request.version(), host_fields, absolute_form);
      !problem.empty()) {
    co_await sendError(ex, format, ProxyError::BadRequest,
                       "malformed request: " + std::string(problem), false);
    finish(ex);
    co_return false;
  }
  // Beast frames the body by a final "chunked" and drops the codings before it: "gzip, chunked"
  // would go upstream still gzipped and unlabelled, and be metered as gzip bytes. RFC 9112 §6.1:
  // 501, and the connection closes (where the body ends is not known).
  if (const auto codings = has_transfer_encoding
                               ? joinedValues(request.fields(), http::field::transfer_encoding)
                               : std::nullopt;
      codings && !core::isChunkedAlone(*codings)) {
    co_await sendError(ex, format, ProxyError::UnsupportedTransferCoding,
                       "Transfer-Encoding \"" + core::validUtf8(*codings) +
                           "\" is not supported: spendgate reads only \"chunked\" alone (send "
                           "a compressed body with Content-Encoding instead)",
                       false);
    finish(ex);
    co_return false;
  }
  // RFC 9110 §10.1.1: 100-continue is the one expectation defined; one the proxy cannot meet is
  // 417, never forwarded (Expect goes no further than the proxy), and the connection closes, as
  // for the other refusals before the body is read.
  const auto expect =
      has_expect ? joinedValues(request.fields(), http::field::expect) : std::nullopt;
  const auto expectation = expect ? core::readExpectation(*expect) : core::Expectation{};
  if (!expectation.unmet.empty()) {
    co_await sendError(ex, format, ProxyError::ExpectationFailed,
                       "Expect \"" + core::validUtf8(expectation.unmet) +
                           "\" cannot be met: spendgate meets only \"100-continue\"",
                       false);
    finish(ex);
    co_return false;
  }

  worker_.requestStarted();
  ex.counted = true;
  current_ = exchange;  // abandon() settles it if the session fails before finish()
  ex.client_keep_alive = request.keepAlive();
  ex.client_version = request.version();

  if (!parser.is_done()) {
    // curl and others wait for "100 Continue" before sending a large body. An HTTP/1.0 client
    // knows no interim answers: its expectation is ignored (RFC 9110 §10.1.1).
    if (expectation.continue_expected && request.version() >= 11) {
      deadline_.arm(Clock::now() + kErrorWriteTimeout);
      auto [wec, n] = co_await net::async_write(socket_, net::buffer(k100Continue), use_nothrow);
      if (deadline_.finish(wec)) {
        ex.record->status = 499;
        finish(ex);
        co_return false;
      }
    }
    parser.eager(true);  // as http::async_read sets it
    beast::error_code bec;
    std::size_t body_bytes = parseBuffered(parser, buffer_, bec);
    while (bec == http::error::need_more) {
      // idle_timeout is between reads, as nginx's client_body_timeout: a slow but steady
      // upload may take longer. Expiry cancels the read only, so the 408 can still go out.
      deadline_.arm(Clock::now() + server.idle_timeout, IoDeadline::OnExpiry::Cancel);
      auto [rec, more] = co_await http::async_read_some(socket_, buffer_, parser, use_nothrow);
      bec = deadline_.finish(rec);
      body_bytes += more;
      if (!bec && !parser.is_done()) bec = http::error::need_more;
    }
    ex.record->bytes_in += body_bytes;
    if (bec) {
      if (bec == http::error::header_limit) {
        // RequestParser: a trailer section over the head's limit (its fields are dropped).
        co_await sendError(ex, format, ProxyError::HeaderTooLarge,
                           "request trailer fields are larger than " +
                               std::to_string(server.max_header_bytes) + " bytes",
                           false);
      } else if (bec == http::error::buffer_overflow) {
        // A chunk-size line or trailer section that never ends (kMaxUnparsedBytes).
        co_await sendError(ex, format, ProxyError::HeaderTooLarge,
                           "a chunk-size line or the trailer section of the request body is "
                           "larger than " +
                               std::to_string(kMaxUnparsedBytes) + " bytes",
                           false);
      } else if (bec == http::error::body_limit) {
        co_await sendError(
            ex, format, ProxyError::BodyTooLarge,
            "request body is larger than " + std::to_string(server.max_body_bytes) + " bytes",
            false);
      } else if (bec == beast::error::timeout) {
        co_await sendError(ex, format, ProxyError::RequestTimeout,
                           "no part of the request body arrived within " +
                               std::to_string(server.idle_timeout.count()) + " ms",
                           false);
      } else if (isQuietClose(bec) || bec == http::error::partial_message) {
        ex.record->status = 499;
        ex.record->error = "client closed the connection mid-body: " + describe(bec);
      } else {
        co_await sendError(ex, format, ProxyError::BadRequest,
                           "malformed request body: " + bec.message(), false);
      }
      finish(ex);
      co_return false;
    }
  }
  ex.request_body_read = true;

  const bool keep_alive = ex.client_keep_alive && !draining_ && !worker_.draining();
  if (!ex.provider) {
    std::string path(request.target().substr(0, request.target().find('?')));
    co_await sendError(ex, format, ProxyError::NotFound, "no provider route for path " + path,
                       keep_alive);
    finish(ex);
    co_return keep_alive;
  }

  Request& forwarded = parser;
  // Metering reads the path percent-decoded with its dot segments resolved, as the most lenient
  // upstream would (core/http/canonical_path.hpp); it is forwarded as sent. A path no reading
  // agrees on, or whose reading routes elsewhere (a gateway behind both routes would serve it as
  // the other provider's call), is refused rather than metered by the wrong rules.
  const core::CanonicalPath path(forwarded.target());
  if (auto problem = pathProblem(*ex.runtime, ex, path); !problem.empty()) {
    co_await sendError(ex, format, ProxyError::BadRequest, "ambiguous request path: " + problem,
                       keep_alive);
    finish(ex);
    co_return keep_alive;
  }
  // A metered body is read, so a coded one is decoded first and forwarded decoded: the budget
  // checks and the upstream's bill then see the same bytes. Free endpoints go untouched.
  if (mayBill(forwarded) && core::endpointKind(format, path) != core::EndpointKind::Unmetered) {
    if (auto refused = decodeRequestContent(forwarded, server.max_body_bytes)) {
      HeaderList headers;
      // RFC 9110 §15.5.16: a 415 for a content coding names the codings that would do.
      if (refused->error == ProxyError::UnsupportedEncoding) {
        headers.emplace_back("accept-encoding", "gzip, deflate, br");
      }
      co_await sendError(ex, format, refused->error, std::move(refused->message), keep_alive,
                         headers);
      finish(ex);
      co_return keep_alive;
    }
  }
  // SPEC §4 order: emergency stop, identity, per-request limit, rate limits, budgets.
  // The stop's state is copied (under the enforcer's lock) only when it is on.
  if (worker_.enforcer().emergencyStopActive()) {
    const auto stop = worker_.enforcer().emergencyStop();
    if (core::emergencyStopBlocks(stop, std::chrono::system_clock::now())) {
      co_await sendDenial(ex, core::emergencyStopDenial(stop, std::chrono::system_clock::now()),
                          keep_alive);
      finish(ex);
      co_return keep_alive;
    }
  }
  if (auto denial = admit(ex, forwarded, path)) {
    co_await sendError(ex, format, denial->first, std::move(denial->second), keep_alive);
    finish(ex);
    co_return keep_alive;
  }
  std::optional<core::Denial> denial;
  if (auto pending = enforceAtOnce(ex, denial)) denial = co_await admitLater(ex, *pending);
  if (denial) {
    co_await sendDenial(ex, *denial, keep_alive);
    finish(ex);
    co_return keep_alive;
  }

  ex.forwarded = true;
  // A client that leaves should stop the upstream generating for nobody: the worker's sweep
  // starts watching for that once the request has lasted a while (watchIfSlow).
  in_flight_ = exchange;
  seen_by_sweep_ = false;
  const bool keep = co_await forward(ex, forwarded);
  settle(ex);
  ex.finished = true;
  in_flight_.reset();
  if (watching_) {
    watching_ = false;
    beast::error_code ignored;
    socket_.cancel(ignored);  // ends the disconnect watch
  }
  finish(ex);
  // A held answer that failed part-way (upstream timeout or reset, bad encoding) is still there.
  releaseHeldAnswer();
  co_return keep && !draining_ && !worker_.draining();
}

void ClientSession::sweep(Clock::time_point now) {
  if (deadline_.expire(now)) {
    beast::error_code ignored;
    // The pending operation ends with an error, finish() says timeout.
    if (deadline_.cancels()) {
      socket_.cancel(ignored);
    } else {
      socket_.close(ignored);
    }
  }
  if (!in_flight_) return;
  if (auto& upstream = in_flight_->upstream; upstream && upstream->deadline().expire(now)) {
    upstream->close();
  }
  if (watching_ || in_flight_->finished || in_flight_->client_gone) return;
  if (!seen_by_sweep_) {
    seen_by_sweep_ = true;  // started since the last sweep: give it until the next one
    return;
  }
  watchForDisconnect(in_flight_);
}

void ClientSession::watchForDisconnect(const std::shared_ptr<Exchange>& exchange) {
  watching_ = true;
  socket_.async_wait(
      tcp::socket::wait_read, [self = shared_from_this(), exchange](beast::error_code ec) {
        // Cancelled, or the exchange ended: whoever ended it has already reset watching_.
        if (ec || exchange->finished) return;
        char byte;
        const ssize_t n = ::recv(self->socket_.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
          self->watchForDisconnect(exchange);  // spurious wake-up: keep watching
          return;
        }
        self->watching_ = false;
        if (n > 0) return;  // the next pipelined request: the client is still there
        exchange->client_gone = true;
        if (waitsOut(*exchange)) {
          // The provider finishes and bills a non-streamed call anyway: read its answer for the
          // usage (bounded by request_timeout), but let the client's socket go now.
          exchange->waiting_out = true;
          beast::error_code ignored;
          self->socket_.close(ignored);
        } else if (exchange->upstream) {
          exchange->upstream->close();
        }
      });
}

std::optional<std::pair<core::ProxyError, std::string>> ClientSession::admit(
    Exchange& ex, Request& request, const core::CanonicalPath& path) {
  const ProviderRuntime& provider = *ex.provider;
  const Runtime& runtime = *ex.runtime;

  findCallerKey(request.fields(), request.target(), caller_);
  ex.caller = &caller_;
  // A connection's requests nearly always carry the same key: its digest is kept with it (the
  // thread's digest cache costs a hash, a search and a 64-character copy per request).
  if (ex.caller->value != caller_key_) {
    caller_key_hash_ = ex.caller->value.empty() ? "" : sha256Hex(ex.caller->value);
    caller_key_ = ex.caller->value;
  }
  const std::string& key_hash = caller_key_hash_;
  const core::IdentityResolver::Headers claimed = claimedIdentity(request.fields());
  const bool virtual_key_format = core::hasVirtualKeyFormat(ex.caller->value);
  if (!ex.caller->other_credentials.empty()) {
    // Which credential would count is a guess, and whichever did, the other would go upstream:
    // a virtual key (ours by config or by shape) beside a different credential is refused.
    const auto is_virtual = [&runtime](std::string_view key) {
      return core::hasVirtualKeyFormat(key) || runtime.identity->isVirtualKey(sha256Hex(key));
    };
    if ((!key_hash.empty() && (virtual_key_format || runtime.identity->isVirtualKey(key_hash))) ||
        std::any_of(ex.caller->other_credentials.begin(), ex.caller->other_credentials.end(),
                    is_virtual)) {
      return std::pair{
          core::ProxyError::UnknownKey,
          core::unknownKeyDenial(core::UnknownKeyCause::Conflicting, provider.config.format)
              .message};
    }
  }
  // A virtual key anywhere else would leave as it is (only a key in our own shape can be told
  // from any other text; with no virtual key configured there is none to keep in).
  if (runtime.identity->hasVirtualKeys() &&
      carriesKeyOutsideKeyPlaces(request.fields(), request.target())) {
    return std::pair{
        core::ProxyError::UnknownKey,
        core::unknownKeyDenial(core::UnknownKeyCause::Stray, provider.config.format).message};
  }
  // A connection's requests nearly always resolve from the same inputs: the last identity is
  // kept with it (IdentityMemo).
  const core::Identity* identity =
      identity_memo_.find(runtime.identity, key_hash, claimed, virtual_key_format);
  if (identity == nullptr) {
    auto resolved = runtime.identity->resolve(key_hash, claimed, virtual_key_format);
    if (!resolved) {
      const auto cause = ex.caller->value.empty() ? core::UnknownKeyCause::Missing
                         : virtual_key_format     ? core::UnknownKeyCause::UnknownVirtual
                                                  : core::UnknownKeyCause::NotVirtual;
      return std::pair{core::ProxyError::UnknownKey,
                       core::unknownKeyDenial(cause, provider.config.format).message};
    }
    identity = &identity_memo_.remember(runtime.identity, key_hash, claimed, virtual_key_format,
                                        std::move(*resolved));
  }
  ex.identity = identity;

  // The path as sent ends where the query starts (CanonicalPath cut it there).
  const std::string_view target = request.target();
  const std::string_view query =
      target.size() > path.raw().size() ? target.substr(path.raw().size() + 1) : std::string_view{};
  if (mayBill(request)) {
    ex.info = core::classifyRequest(provider.config.format, path, query, request.body(),
                                    provider.config.deployments);
  } else {
    // GET /v1/chat/completions lists stored completions; an OPTIONS is a CORS preflight: free.
    ex.info = core::RequestInfo{};
    ex.info.format = provider.config.format;
    ex.info.request_body_bytes = static_cast<std::int64_t>(request.body().size());
  }
  // Asked for a stream: so it is in the ledger even if no answer head ever comes (504, 502, 499).
  ex.record->stream = ex.info.stream;
  if (ex.info.kind == core::EndpointKind::Unmetered) {
    ex.spending =
        core::isUnpricedPaidEndpoint(provider.config.format, request.method_string(), path)
            ? core::Spending::Unpriced
            : core::Spending::Free;
  }

  if (ex.identity->virtual_key && !provider.missing_key.empty()) {
    // Forwarded without credentials it would get the provider's own, misleading 401.
    return std::pair{core::ProxyError::ProviderKeyMissing, provider.missing_key};
  }

  const auto& pricer = *runtime.pricer;
  if (ex.info.kind != core::EndpointKind::Unmetered &&
      pricer.unknownModelPolicy().kind == core::UnknownModelPolicy::Kind::Reject) {
    // A model spendgate cannot tell (unreadable body, none named) has no price either: forwarded,
    // nothing would bound it (no reservation, no per-request limit).
    if (ex.info.model_problem != core::ModelProblem::None) {
      return std::pair{
          core::ProxyError::UnknownModel,
          core::modelProblemDenial(ex.info.model_problem, ex.info.model_from_body).message};
    }
    if (!pricer.hasPrice("", ex.info.requested_model)) {
      return std::pair{core::ProxyError::UnknownModel,
                       core::unknownModelDenial(ex.info.requested_model, ex.info.azure_deployment,
                                                provider.config.name)
                           .message};
    }
  }

  if (ex.info.needs_usage_injection) {
    if (auto body = core::injectIncludeUsage(request.body())) {
      request.body() = std::move(*body);
      ex.usage_filter.emplace();
    }
  }
  return std::nullopt;
}

struct ClientSession::PendingAdmission {
  core::EnforcementPlan plan;
  std::chrono::system_clock::time_point expires_at;
};

namespace {

/** What an admission means for the request: its rate-limit headers, and a denial if refused. */
std::optional<core::Denial> applyAdmission(Exchange& ex,
                                           const Enforcer::Admission& admission,
                                           Logger& logger) {
  ex.rate_limits = admission.result.rate_limits;
  if (admission.result.allowed()) {
    ex.admitter = admission.admitter;
    return std::nullopt;
  }
  if (admission.result.denial) return admission.result.denial;
  logger.error("counter store unavailable: " + admission.result.error);
  return core::storeUnavailableDenial();
}

}  // namespace

std::unique_ptr<ClientSession::PendingAdmission> ClientSession::enforceAtOnce(
    Exchange& ex, std::optional<core::Denial>& denial) {
  const Runtime& runtime = *ex.runtime;
  const auto now = std::chrono::system_clock::now();
  // Bounded also at the prices of what this model has been answered as (ServedModelMemory).
  ex.worst = worker_.servedModels().worstCase(*runtime.pricer, ex.provider->config.name, ex.info);
  const core::WorstCase& worst = ex.worst;
  // The connection's attributes, kept with their strings: a connection's requests nearly always
  // carry the same ones, and a string equal to the last request's is not copied again.
  core::RequestAttributes& attributes = attributes_;
  const auto set = [](std::string& to, const std::string& from) {
    if (to != from) to = from;
  };
  set(attributes.provider, ex.provider->config.name);
  set(attributes.model, ex.info.requested_model);
  set(attributes.key, ex.identity->key);
  set(attributes.user, ex.identity->user);
  set(attributes.team, ex.identity->team);
  set(attributes.customer, ex.identity->customer);
  set(attributes.agent, ex.identity->agent);
  // Tokens per minute are charged an estimate now and corrected when the answer is settled.
  const std::int64_t token_estimate =
      core::UsageEstimator(ex.info.request_body_bytes).inputTokens() +
      ex.info.max_output_tokens.value_or(0);
  // Planned into the worker's plan, whose vectors and strings keep their capacity: used only
  // until admitAtOnce returns, or moved into the pending admission.
  core::EnforcementPlan& plan = worker_.plan();
  core::planInto(plan, runtime.rules, attributes, worst.amount, token_estimate, now, ex.spending,
                 core::OutputCap{ex.info.output_cap_field, ex.info.max_output_tokens.has_value()},
                 &worker_.counterKeys());
  if (plan.denial) {
    denial = plan.denial;
    return nullptr;
  }
  if (plan.empty()) {
    // Nothing to count, but fail_closed still means closed while the store is down.
    if (worker_.enforcer().refusesWithoutStore()) denial = core::storeUnavailableDenial();
    return nullptr;
  }

  // A reservation outlives the request, so a crashed instance's holds expire on their own.
  const auto expires_at = now + runtime.config.server.request_timeout + std::chrono::seconds(60);
  if (auto admission = worker_.enforcer().admitAtOnce(plan, ex.record->request_id, expires_at)) {
    denial = applyAdmission(ex, *admission, worker_.logger());
    return nullptr;
  }
  return std::make_unique<PendingAdmission>(PendingAdmission{std::move(plan), expires_at});
}

Awaitable<std::optional<core::Denial>> ClientSession::admitLater(Exchange& ex,
                                                                 const PendingAdmission& pending) {
  const auto admission = co_await worker_.enforcer().admitWaiting(
      pending.plan, ex.record->request_id, pending.expires_at);
  co_return applyAdmission(ex, admission, worker_.logger());
}

Awaitable<void> ClientSession::sendDenial(Exchange& ex,
                                          const core::Denial& denial,
                                          bool keep_alive) {
  HeaderList headers;
  if (auto seconds = denial.retryAfterSeconds()) {
    headers.emplace_back("retry-after", std::to_string(*seconds));
    headers.emplace_back("retry-after-ms", std::to_string(denial.retry_after->count()));
  }
  switch (denial.reason) {
    case core::DenialReason::EmergencyStop:
    case core::DenialReason::Budget:
    case core::DenialReason::RateLimit:
    case core::DenialReason::StoreUnavailable:
      headers.emplace_back("x-should-retry", denial.should_retry ? "true" : "false");
      break;
    default:
      break;
  }
  forEachRateLimitHeader(denial.rate_limits,
                         [&headers](std::string_view name, std::string_view value) {
                           headers.emplace_back(std::string(name), std::string(value));
                         });
  const auto format = ex.provider ? ex.provider->config.format : ProviderFormat::OpenAI;
  co_await sendError(ex, format, toProxyError(denial.reason), denial.message, keep_alive, headers);
}

void ClientSession::price(Exchange& ex) {
  if (ex.priced) return;

  core::UsageResult& result = ex.result;
  if (ex.usage) {
    // A run that threw after the usage was read (pricing it) reads nothing again; one that threw
    // while reading a held answer reads it again with a new reader, as the first run did: the
    // reader it left has part of the answer (an unreadable body's estimate would count twice).
    // (Held answers are never event streams: the content type only chooses that.) A relayed
    // answer is gone: its reader is not finished twice (review 22 F7), what it saw is estimated.
    if (!ex.usage_read) {
      if (ex.usage_in_whole) {
        if (ex.usage_reading)
          ex.usage.emplace(ex.info, ex.answer_status, "", usageLimits(ex, worker_.buffers()));
        ex.usage_reading = true;
        ex.usage->finishInto(held_answer_, result);
      } else if (ex.usage_reading) {
        ex.usage->estimateInto(result);
      } else {
        ex.usage_reading = true;
        ex.usage->finishInto(result);
      }
      ex.usage_read = true;
    }
  } else if ((ex.client_gone || ex.awaiting_answer) &&
             ex.info.kind != core::EndpointKind::Unmetered) {
    // Gone before the answer started, or the upstream took the request and then timed out or
    // failed: it may have read (and billed) the prompt. Estimate it (free endpoints bill nothing).
    result.status = core::UsageStatus::Estimated;
    result.estimated = true;
    result.usage.input_tokens = core::UsageEstimator(ex.info.request_body_bytes).inputTokens();
    if (ex.no_answer_in_time && !ex.info.stream) {
      // A non-streamed call the upstream took and is still working on when we gave up: the
      // provider will most likely finish and bill it. Its output bound, as reserved.
      result.usage.output_tokens = ex.outputTokensBound().value_or(0);
    }
  }
  if (auto background =
          core::backgroundSettlement(*ex.runtime->pricer, ex.info, result, &ex.worst)) {
    // A background run goes on at the provider; its answer did not show its end.
    result = std::move(background->result);
    ex.cost = background->cost.amount;
    ex.price_source = background->cost.price_source;
    learnServedModel(ex, background->cost);
  } else if (result.status != core::UsageStatus::NotBillable) {
    const core::Cost cost = ex.runtime->pricer->cost(result.usage, ex.info.requested_model);
    ex.cost = cost.amount;
    ex.price_source = cost.price_source;
    learnServedModel(ex, cost);
  } else {
    // What the ledger says when nothing is priced: a free endpoint, or an answer that bills
    // nothing.
    ex.price_source = ex.info.kind == core::EndpointKind::Unmetered ? "unmetered" : "none";
  }
  ex.priced = true;  // done: set last, so a price that threw is tried again (abandon)
}

void ClientSession::learnServedModel(const Exchange& ex, const core::Cost& cost) {
  using Learned = core::ServedModelMemory::Learned;
  const std::string& provider = ex.provider->config.name;
  switch (worker_.servedModels().learn(*ex.runtime->pricer, provider, ex.info, ex.worst, cost)) {
    case Learned::Nothing:
      return;
    case Learned::Added:
      // Once per (provider, request model, answered model) and process.
      worker_.logger().warn(
          ex.record->request_id + ": provider " + provider + " answered a " +
          ex.info.requested_model + " request as " + cost.priced_model +
          ", priced above the worst case it was reserved at: it may have cost more than its "
          "reservation and request_limits.max_cost_usd. This process now bounds " +
          provider + "'s " + ex.info.requested_model + " requests at " + cost.priced_model +
          "'s prices too; map the deployment or model to the exact name " + cost.priced_model +
          " so that every instance bounds it from the first call (docs/metering.md §7)");
      return;
    case Learned::Full:
      worker_.logger().warn(
          ex.record->request_id + ": " + std::to_string(worker_.servedModels().capacity()) +
          " answered models priced above their worst case are remembered, no more are: provider " +
          provider + "'s answer to a " + ex.info.requested_model + " request as " +
          cost.priced_model +
          " may have cost more than its reservation, as may later such "
          "answers (docs/metering.md §7)");
      return;
  }
}

void ClientSession::priceAtWorstCase(Exchange& ex) noexcept {
  core::UsageResult& result = ex.result;
  if (!ex.usage_read) {
    // Nothing read that can be trusted: the bounds the worst case was priced at. (Moving a
    // default result in allocates nothing.)
    result = core::UsageResult{};
    result.status = core::UsageStatus::Estimated;
    result.usage.input_tokens = ex.worst.input_tokens_bound;
    result.usage.output_tokens = ex.worst.output_tokens_bound;
  }
  result.estimated = true;
  ex.cost = ex.worst.amount;
  ex.cost_usd_size = 0;
  ex.price_source = "worst_case";
  ex.priced = true;
}

void ClientSession::settleCounters(Exchange& ex) {
  if (ex.counters_settled) return;
  price(ex);
  settleCountersAsPriced(ex);
}

void ClientSession::settleCountersAsPriced(Exchange& ex) {
  if (ex.counters_settled) return;
  ex.settled_at = std::chrono::system_clock::now();
  // The connection's settlement, every member assigned: the reservation id is copied into the
  // capacity the last one left (a new Settlement allocated and freed a copy of it).
  // (The binding names every member: one added to Settlement fails to compile here.)
  auto& [reservation_id, actual_cost, actual_tokens, settled_at] = settlement_;
  reservation_id = ex.record->request_id;
  actual_cost = ex.cost;
  actual_tokens = ex.result.usage.input_tokens + ex.result.usage.output_tokens;
  settled_at = ex.settled_at;
  worker_.enforcer().settle(ex.admitter, settlement_, ex.runtime);
  // Done: set once the enforcer has it, so a settle that threw is tried again (abandon), and one
  // that returned is never repeated.
  ex.counters_settled = true;
}

void ClientSession::settle(Exchange& ex) {
  if (ex.settled || !ex.forwarded) return;
  settleCounters(ex);
  writeLine(ex);
}

void ClientSession::writeLine(Exchange& ex) {
  if (ex.settled || !ex.forwarded) return;
  const core::UsageResult& result = ex.result;
  if (result.status == core::UsageStatus::Malformed || result.status == core::UsageStatus::Absurd ||
      result.status == core::UsageStatus::TooLarge) {
    worker_.logger().warn(ex.record->request_id + ": usage " +
                          std::string(core::usageStatusName(result.status)) + " (" + result.detail +
                          "), cost estimated");
  }

  // The line is written from views of the exchange's own strings: nothing is copied for it.
  core::LedgerLine line{
      .ts = ex.settled_at,
      .request_id = ex.record->request_id,
      .provider = ex.provider->config.name,
      .model = result.usage.model.empty() ? ex.info.requested_model : result.usage.model,
      .requested_model = ex.info.requested_model,
      .key = ex.identity->key,
      .user = ex.identity->user,
      .team = ex.identity->team,
      .customer = ex.identity->customer,
      .agent = ex.identity->agent,
      .status = ex.record->status,
      .stream = ex.record->stream,
      .input_tokens = result.usage.input_tokens,
      .cached_input_tokens = result.usage.cached_input_tokens,
      .cache_write_tokens = result.usage.cache_write_tokens,
      .output_tokens = result.usage.output_tokens,
      .reasoning_tokens = result.usage.reasoning_tokens,
      .cost_picousd = ex.cost,
      .price_source = ex.price_source,
      .usage_source = result.estimated ? "estimated" : "provider",
      .upstream_ms = ex.record->upstream_ms};
  ex.metric_model = line.model;
  worker_.metrics().spend(line.provider, line.model, ex.cost,
                          {line.input_tokens, line.cached_input_tokens, line.cache_write_tokens,
                           line.output_tokens, line.reasoning_tokens});
  line.latency_ms = millisSince(ex.start, std::chrono::steady_clock::now());
  worker_.ledger().append(core::toJsonLine(line, ex.costUsd()));
  // Done once its line is queued: set then, so a line that was never written is tried again
  // (abandon), and one that was is never written twice.
  ex.settled = true;
  worker_.spend().record(core::settledRequestFrom(line), line.ts);
}

Awaitable<bool> ClientSession::forward(Exchange& ex, Request& request) {
  const ProviderRuntime& provider = *ex.provider;
  const auto& server = ex.runtime->config.server;
  const auto format = provider.config.format;

  std::string_view target = request.target();
  std::string target_with_key;
  if (ex.identity->virtual_key) {
    // The virtual key stays here; the provider's own key goes in its own header.
    target_with_key = target;
    injectProviderKey(request.fields(), target_with_key, *ex.caller, format, provider.api_key);
    target = target_with_key;
  }
  static constexpr std::string_view kIdentityHeaders[] = {
      "x-spendgate-user", "x-spendgate-team", "x-spendgate-customer", "x-spendgate-agent"};
  std::string& head = upstream_head_;
  head.clear();
  head.reserve(512);
  appendUpstreamRequestHead(head, request,
                            {.target_prefix = provider.config.upstream.path_prefix,
                             .target = target,
                             .host = provider.host_header,
                             .body_size = request.body().size(),
                             .drop = kIdentityHeaders});

  ex.upstream_start = std::chrono::steady_clock::now();
  const auto first_byte_deadline =
      std::min(ex.upstream_start + server.first_byte_timeout, ex.deadline);

  // A parser for the next answer head: the first, or the final one after an interim 1xx.
  const auto newAnswerParser = [&ex, this] {
    ex.parser.emplace(response_fields_);
    ex.parser->body_limit(boost::none);
    if (ex.head) ex.parser->skip(true);
  };
  beast::error_code ec;
  bool got_interim = false;
  for (int attempt = 0; attempt < 2; ++attempt) {
    ex.awaiting_answer = false;
    ex.upstream = worker_.pool().acquire(provider.pool_key);
    const bool reused = ex.upstream != nullptr;
    if (!reused) {
      ex.upstream = std::make_unique<UpstreamConnection>(socket_.get_executor(), provider);
      ec = co_await ex.upstream->connect(provider, first_byte_deadline);
      if (ec || ex.client_gone) break;
    }
    newAnswerParser();
    // The request, then the answer's head, awaited here rather than in a coroutine of their own
    // (a frame and a resumption per request).
    const std::array<net::const_buffer, 2> wire{net::buffer(head), net::buffer(request.body())};
    IoDeadline& io_deadline = ex.upstream->deadline();
    if (ex.upstream->isTls()) {
      io_deadline.arm(first_byte_deadline);
      std::tie(ec, std::ignore) = co_await net::async_write(ex.upstream->tls(), wire, use_nothrow);
      ec = io_deadline.finish(ec);
    } else {
      EagerWrite w = writeAtOnce(ex.upstream->plain(), wire, io_deadline);
      if (!w.done) {
        w = co_await writeRest(ex.upstream->plain(), wire, w, io_deadline, first_byte_deadline);
      }
      ec = w.ec;
    }
    if (!ec) {
      ex.awaiting_answer = true;
      auto& buffer = ex.upstream->buffer();
      // Interim answers (103 Early Hints, an unsolicited 100 Continue) come before the final
      // one, on the same first-byte deadline: each is read and dropped, as nginx does. 101
      // counts as final (the proxy never asks to switch protocols).
      while (true) {
        io_deadline.arm(first_byte_deadline);
        if (ex.upstream->isTls()) {
          std::tie(ec, std::ignore) =
              co_await http::async_read_header(ex.upstream->tls(), buffer, *ex.parser, use_nothrow);
        } else {
          std::tie(ec, std::ignore) = co_await http::async_read_header(ex.upstream->plain(), buffer,
                                                                       *ex.parser, use_nothrow);
        }
        ec = io_deadline.finish(ec);
        if (ec || !isInterimStatus(ex.parser->result_int())) break;
        got_interim = true;  // the upstream has the request: never sent again
        newAnswerParser();
      }
      if (!ec) ex.awaiting_answer = false;
    }
    if (!ec || ex.client_gone) break;
    if (!(reused && !ex.parser->got_some() && !got_interim && isStaleConnectionError(ec))) break;
    ex.upstream->close();  // stale keep-alive connection: try once more on a new one
  }

  if (ec == beast::error::timeout && ex.awaiting_answer) ex.no_answer_in_time = true;
  // A client that left while a held answer is awaited: the answer is still read (waiting_out).
  const bool read_anyway = ex.waiting_out && !ec && ex.parser && ex.parser->is_header_done();
  if (ex.client_gone && !read_anyway) {
    ex.record->status = 499;
    ex.record->error = "client closed the connection before the answer";
    if (ex.waiting_out && ec) ex.record->error += "; no answer came: " + describe(ec);
    ex.record->upstream_ms = millisSince(ex.upstream_start, std::chrono::steady_clock::now());
    if (ex.upstream) ex.upstream->close();
    co_return false;
  }
  if (ec) {
    ex.record->upstream_ms = millisSince(ex.upstream_start, std::chrono::steady_clock::now());
    if (ex.upstream) ex.upstream->close();
    const bool keep_alive = ex.client_keep_alive && !draining_;
    // The whole request reached the upstream, which may still be running (and billing) it:
    // SDKs retry a 5xx twice, each retry a paid run. Nothing sent, a retry costs nothing.
    HeaderList headers;
    if (ex.awaiting_answer) headers.emplace_back("x-should-retry", "false");
    if (ec == beast::error::timeout) {
      const bool whole = first_byte_deadline == ex.deadline;
      co_await sendError(
          ex, format, ProxyError::UpstreamTimeout,
          "upstream " + provider.config.name + " did not answer within " +
              std::to_string((whole ? server.request_timeout : server.first_byte_timeout).count()) +
              " ms",
          keep_alive, headers);
    } else {
      co_await sendError(ex, format, ProxyError::UpstreamUnavailable,
                         "upstream " + provider.config.name + " unavailable: " + ec.message(),
                         keep_alive, headers);
    }
    co_return keep_alive;
  }
  if (ex.parser->result_int() == 101) {
    // The proxy asks for no upgrade (Upgrade is hop-by-hop): a switch is a broken answer (RFC
    // 9110 §15.2.2), and relayed it would leave the client waiting on a protocol nobody speaks.
    ex.record->upstream_ms = millisSince(ex.upstream_start, std::chrono::steady_clock::now());
    ex.upstream->close();
    const bool keep_alive = ex.client_keep_alive && !draining_;
    HeaderList headers;
    headers.emplace_back("x-should-retry", "false");  // the upstream has the request
    co_await sendError(ex, format, ProxyError::UpstreamUnavailable,
                       "upstream " + provider.config.name +
                           " answered 101 Switching Protocols to a request that asked for no "
                           "upgrade",
                       keep_alive, headers);
    co_return keep_alive;
  }

  bool keep;
  if (ex.upstream->isTls()) {
    keep = co_await relayResponse(ex.upstream->tls(), ex);
  } else {
    keep = co_await relayResponse(ex.upstream->plain(), ex);
  }
  // A held answer was timed when its last byte came from the upstream, before it was sent on.
  if (!ex.priced) {
    ex.record->upstream_ms = millisSince(ex.upstream_start, std::chrono::steady_clock::now());
  }
  if (ex.client_gone) {
    ex.record->status = 499;
    ex.record->error = ex.waiting_out ? "client closed the connection before the answer; the "
                                        "answer was read for its usage"
                                      : "client closed the connection mid-answer";
    if (ex.waiting_out && !ex.parser->is_done()) ex.record->error += " but did not complete";
  }
  // Keep the upstream connection only after a complete, reusable exchange whose answer ended
  // exactly at its framing boundary: bytes after it (past its Content-Length, after the last
  // chunk) answer no request, and the next caller to get the connection would read them as its
  // answer. This caller's answer was complete and stands, as with nginx.
  if (ex.parser->is_done() && ex.parser->keep_alive() && ex.upstream->isOpen() &&
      (!ex.client_gone || ex.waiting_out)) {
    if (const std::size_t leftover = ex.upstream->leftoverBytes(); leftover == 0) {
      worker_.pool().release(std::move(ex.upstream));
    } else {
      worker_.logger().warn(ex.record->request_id + ": upstream " + provider.config.name +
                            " sent " + std::to_string(leftover) +
                            " bytes after the end of its answer; connection closed, not reused");
      ex.upstream->close();
    }
  } else {
    ex.upstream->close();
  }
  co_return keep;
}

template <class Stream>
Awaitable<bool> ClientSession::relayResponse(Stream& upstream, Exchange& ex) {
  auto& parser = *ex.parser;
  const unsigned status = parser.result_int();
  bool has_length = parser.content_length().has_value();
  const bool bodiless = ex.head || status / 100 == 1 || status == 204 || status == 304;
  std::string_view content_type, content_encoding;
  // Gemini's upload session, pointed back at the proxy as the client reached it (the request's
  // fields are still the session's request_fields_).
  std::optional<std::string> upload_url;
  const bool gemini = ex.provider->config.format == ProviderFormat::Gemini;
  for (const auto& field : parser.fields()) {
    if (field.name() == http::field::content_type && content_type.empty()) {
      content_type = field.value();
    } else if (field.name() == http::field::content_encoding && content_encoding.empty()) {
      content_encoding = field.value();
    } else if (gemini && !upload_url && field.name() == http::field::unknown &&
               beast::iequals(field.name_string(), kUploadUrlHeader)) {
      upload_url =
          proxiedUrl(field.value(), ex.provider->config.upstream, clientOrigin(request_fields_));
    }
  }
  const bool sse = content_type.starts_with("text/event-stream");
  const bool success = status / 100 == 2;

  ex.answer_status = static_cast<int>(status);
  ex.usage.emplace(ex.info, ex.answer_status, content_type, usageLimits(ex, worker_.buffers()));
  // Only the stream we asked to carry usage gets the extra chunk removed.
  // We ask for identity, but an upstream may compress anyway. Then the client gets the decoded
  // body, and headers that say so: metering and the usage filter read plain text.
  ContentDecoderPtr decoder;
  bool opaque_body = false;  // compressed in a way we cannot read: relayed untouched
  // How the head the client gets differs from the upstream's (written by
  // appendRelayedResponseHead, which also drops hop-by-hop fields and copies of our own).
  RelayedResponseHead relayed;
  if (!bodiless && !content_encoding.empty()) {
    decoder = ContentDecoder::create(content_encoding, ContentDecoder::kDefaultMaxOutput,
                                     &worker_.buffers());
    if (decoder && decoder->ok()) {
      relayed.decoded = true;  // Content-Encoding and the upstream's Content-Length go
      has_length = false;
    } else if (decoder) {
      decoder.reset();
      opaque_body = true;
    }
  }
  const bool filtering = ex.usage_filter && sse && success && !opaque_body;
  // The filter takes the usage chunk we asked for out of the body: the upstream's Content-Length
  // (an SSE answer may come with one) no longer holds, so the body goes re-chunked.
  if (filtering) has_length = false;
  // A non-streamed, billable answer waits until complete so its cost can go in a header.
  bool hold_whole = success && !bodiless && !sse && !ex.info.stream &&
                    ex.info.kind != core::EndpointKind::Unmetered;
  // A held answer is metered from `whole` once complete (or cut short): one copy of it, not two.
  ex.usage_in_whole = hold_whole;
  // Held in the connection's buffer (empty: serveOne releases it after each request), kept with
  // its capacity from the answer before: no allocation for an answer no larger than that one.
  // price() reads it there.
  std::string& whole = held_answer_;

  if (!bodiless && !has_length && !hold_whole) {
    // Chunked or read-until-close upstream: re-chunk for HTTP/1.1 clients.
    relayed.framing = ex.client_version >= 11 ? BodyFraming::Chunked : BodyFraming::UntilClose;
  }
  // The proxy's own headers go straight into the head, after the upstream's (minus any copies
  // of them the upstream sent), instead of through Beast's field container.
  relayed.own = ownResponseHeaders(ex.rate_limits);
  std::string& own_headers = own_headers_;
  own_headers.clear();
  own_headers.reserve(256);
  std::vector<std::string_view> own_with_upload_url;
  if (upload_url) {
    own_with_upload_url.assign(relayed.own.begin(), relayed.own.end());
    own_with_upload_url.push_back(kUploadUrlHeader);
    relayed.own = own_with_upload_url;
    appendHeaderLine(own_headers, kUploadUrlHeader, *upload_url);
  }
  appendHeaderLine(own_headers, "x-spendgate-request-id", ex.record->request_id);
  forEachRateLimitHeader(ex.rate_limits,
                         [&own_headers](std::string_view name, std::string_view value) {
                           appendHeaderLine(own_headers, name, value);
                         });
  if (!hold_whole && !sse && (!ex.info.stream || !success)) {
    // Not billable (error answer, also to a stream request, or an unmetered endpoint): known to
    // cost nothing up front.
    appendHeaderLine(own_headers, "x-spendgate-cost-usd", "0");
  }
  bool keep_alive = ex.client_keep_alive && relayed.framing != BodyFraming::UntilClose &&
                    !draining_ && !worker_.draining();
  ex.record->status = static_cast<int>(status);
  ex.record->stream = sse || ex.info.stream;

  std::array<char, kRelayBufferSize> buffer;
  std::string& head = response_head_;  // sent with the first write
  head.clear();
  head.reserve(512);  // a typical head in one allocation, not grown line by line
  bool head_sent = false;
  std::string chunk_size;  // the current chunk's size line
  auto chunked = [&relayed] { return relayed.framing == BodyFraming::Chunked; };
  auto appendHead = [&] {
    relayed.keep_alive = keep_alive;
    relayed.extra = own_headers;
    relayed.date_if_missing = true;
    appendRelayedResponseHead(head, parser, relayed);
  };

  // Send the header at once unless body bytes are already here to go out with it: a stream
  // may be silent for a long time after its header.
  if (!hold_whole && !parser.is_done() && ex.upstream->buffer().size() == 0) {
    appendHead();
    const net::const_buffer wire(head.data(), head.size());
    EagerWrite w = writeAtOnce(socket_, wire, deadline_);
    if (!w.done) w = co_await writeRest(socket_, wire, w, deadline_, ex.deadline);
    ex.record->bytes_out += w.written;
    if (w.ec) {
      ex.client_gone = true;
      co_return false;
    }
    head_sent = true;
  }

  for (;;) {
    auto& body = parser.body();
    std::string_view piece;
    // A decoder with output left is drained first: the upstream is read no faster than the
    // client takes what one piece decodes to.
    const bool decoding_left = decoder && decoder->hasOutput();
    if (!decoding_left && !parser.is_done()) {
      body.data = buffer.data();
      body.size = buffer.size();
      beast::error_code ec;
      parseBuffered(parser, ex.upstream->buffer(), ec);
      if (ec == http::error::need_more && body.size == buffer.size()) {
        // Nothing of the body was buffered: wait for the upstream.
        ex.upstream->deadline().arm(ex.deadline);
        auto [rec, n] =
            co_await http::async_read_some(upstream, ex.upstream->buffer(), parser, use_nothrow);
        ec = ex.upstream->deadline().finish(rec);
      } else if (ec == http::error::need_more) {
        ec = {};  // relay what was buffered now, without waiting for more
      }
      if (ec == http::error::need_buffer) ec = {};
      if (ec && hold_whole && !head_sent && !ex.client_gone) {
        const std::string& name = ex.provider->config.name;
        if (ec == beast::error::timeout) {
          co_return co_await failHeldAnswer(
              ex, ProxyError::UpstreamTimeout,
              "upstream " + name + " did not finish its answer within " +
                  std::to_string(ex.runtime->config.server.request_timeout.count()) + " ms");
        }
        co_return co_await failHeldAnswer(
            ex, ProxyError::UpstreamUnavailable,
            "upstream " + name + " failed mid-answer: " + describe(ec));
      }
      if (ec) {
        if (!ex.client_gone) ex.record->error = "upstream failed mid-answer: " + describe(ec);
        co_return false;  // the client sees a truncated body, never a made-up end
      }
      piece = std::string_view(buffer.data(), buffer.size() - body.size);
    }
    bool done = parser.is_done();
    if (decoder && (!piece.empty() || decoding_left)) {
      ex.decoded.clear();
      decoder->push(piece);
      if (decoder->pull(ex.decoded, kDecodedPiece)) done = false;
      if (!decoder->ok()) {
        std::string message = "cannot decode the upstream's answer: " + decoder->error();
        if (hold_whole && !head_sent && !ex.client_gone) {
          co_return co_await failHeldAnswer(
              ex, ProxyError::UpstreamUnavailable,
              "upstream " + ex.provider->config.name + ": " + message);
        }
        ex.record->error = std::move(message);
        co_return false;
      }
      piece = ex.decoded;
    }
    // Metering sees exactly what the upstream sent (a held answer: in ex.whole, below), after
    // the piece has gone out: parsing an event's JSON must not delay the event.
    const std::string_view metered = ex.usage_in_whole ? std::string_view() : piece;
    if (filtering) {
      ex.filtered.clear();
      ex.usage_filter->feed(piece, ex.filtered);
      if (done) ex.usage_filter->finish(ex.filtered);
      piece = ex.filtered;
    }
    if (hold_whole) {
      // Past 1 MiB a held answer also needs room in what all requests may hold: without it, it
      // is relayed from here on, as one past the hold limit is.
      const bool room = held_grant_.reserveAppend(whole, piece.size(), kMaxHeldBuffer);
      // Without room the last piece goes in at its size (no doubling), and the hold ends.
      if (!room) core::BufferGrant::reserveExactly(whole, whole.size() + piece.size());
      whole.append(piece);
      if (!done && whole.size() <= kMaxHeldAnswer && room) continue;
      if (done) {
        ex.record->upstream_ms = millisSince(ex.upstream_start, std::chrono::steady_clock::now());
        // The cost and the counters are settled before the answer goes out (a caller who
        // reads it and asks again sees its real cost counted); the ledger line follows it
        // (settle, once forward() returns), off the client's wait.
        settleCounters(ex);
        if (ex.client_gone) co_return false;  // read for its usage only (waiting_out)
        appendHeaderLine(own_headers, "x-spendgate-cost-usd", ex.costUsd());
        relayed.framing = BodyFraming::Length;
        relayed.content_length = whole.size();
      } else if (!has_length) {
        // Too large to hold: relay the rest as it comes, without the cost header.
        if (ex.client_version >= 11) {
          relayed.framing = BodyFraming::Chunked;
        } else {
          relayed.framing = BodyFraming::UntilClose;
          keep_alive = false;
        }
      }
      if (!done) {
        ex.usage->feed(whole);  // relayed as it comes from here on: fed piece by piece
        ex.usage_in_whole = false;
      }
      hold_whole = false;
      piece = whole;
    }

    // One gather write: head (first time), then the piece, framed when chunked.
    std::array<net::const_buffer, 5> wire;
    std::size_t count = 0;
    if (!head_sent) {
      appendHead();
      wire[count++] = net::buffer(head);
    }
    if (bodiless) {
      // HEAD, 1xx, 204, 304: nothing after the head.
    } else if (chunked()) {
      if (!piece.empty()) {
        chunk_size.clear();
        appendChunkSize(chunk_size, piece.size());
        wire[count++] = net::buffer(chunk_size);
        wire[count++] = net::buffer(piece);
        wire[count++] = net::buffer("\r\n", 2);
      }
      if (done) wire[count++] = net::buffer("0\r\n\r\n", 5);
    } else if (!piece.empty()) {
      wire[count++] = net::buffer(piece);
    }
    bool client_failed = false;
    if (count > 0) {
      const std::span<const net::const_buffer> pieces(wire.data(), count);
      EagerWrite w = writeAtOnce(socket_, pieces, deadline_);
      if (!w.done) w = co_await writeRest(socket_, pieces, w, deadline_, ex.deadline);
      ex.record->bytes_out += w.written;
      client_failed = static_cast<bool>(w.ec);
      head_sent = true;
    }
    if (!metered.empty()) ex.usage->feed(metered);  // also when the client has gone
    if (client_failed) {
      ex.client_gone = true;
      co_return false;
    }
    if (!whole.empty()) releaseHeldAnswer();  // sent: the rest of a long answer is not held
    if (done) break;
  }
  co_return keep_alive;
}

void ClientSession::releaseHeldAnswer() {
  // The connection keeps the buffer for its next answer, unless it grew large.
  held_answer_.clear();
  if (held_answer_.capacity() > kKeptHeldAnswer) held_answer_ = std::string();
  held_grant_.release();
}

Awaitable<bool> ClientSession::failHeldAnswer(Exchange& ex, ProxyError error, std::string message) {
  // Nothing has gone out yet, so the client can get an error instead of a closed socket. The
  // ledger keeps the estimate of what the upstream may bill for it.
  const bool keep_alive = ex.client_keep_alive && !draining_ && !worker_.draining();
  // The time until it failed was the upstream's (the ledger's upstream_ms, the upstream
  // histogram), not overhead the proxy added (audit 17 F3: a 5 s stall was booked as overhead).
  ex.record->upstream_ms = millisSince(ex.upstream_start, std::chrono::steady_clock::now());
  // The client closing after it read the error is no disconnect (499): end the watch.
  ex.finished = true;
  if (watching_) {
    watching_ = false;
    beast::error_code ignored;
    socket_.cancel(ignored);
  }
  // The upstream ran the request and began its answer: a retry would be another paid run.
  HeaderList headers;
  headers.emplace_back("x-should-retry", "false");
  co_await sendError(ex, ex.provider->config.format, error, std::move(message), keep_alive,
                     headers);
  co_return keep_alive;
}

Awaitable<void> ClientSession::sendError(Exchange& ex,
                                         ProviderFormat format,
                                         ProxyError error,
                                         std::string message,
                                         bool keep_alive,
                                         const HeaderList& headers) {
  // Gemini's and Anthropic's OpenAI-compatible endpoints are called by OpenAI SDKs: they get
  // OpenAI's shape.
  if ((format == ProviderFormat::Gemini || format == ProviderFormat::Anthropic) &&
      core::isOpenAiCompatiblePath(format, core::CanonicalPath(ex.record->target).view())) {
    format = ProviderFormat::OpenAI;
  }
  const auto& kind = core::errorKind(error);
  http::response<http::string_body> response{static_cast<http::status>(kind.status), 11};
  // As nginx on its own answers; relayed answers keep the upstream's Date.
  response.set(http::field::date, ownAnswerDate());
  response.set(http::field::content_type, "application/json");
  response.set("x-spendgate-request-id", ex.record->request_id);
  // The id under the name the caller's SDK reads into its error's requestID (openai:
  // x-request-id, @anthropic-ai/sdk: request-id). Only here: forwarded answers keep the provider's.
  response.set(format == ProviderFormat::Anthropic ? "request-id" : "x-request-id",
               ex.record->request_id);
  // A 500 the openai SDK would retry twice, though no retry sets the missing environment
  // variable. The other errors a retry cannot fix are 4xx, which SDKs do not retry anyway.
  if (error == ProxyError::ProviderKeyMissing) response.set("x-should-retry", "false");
  if (!kind.denied_reason.empty()) {
    response.set("x-spendgate-denied", kind.denied_reason);
    response.set("x-spendgate-cost-usd", "0");  // SPEC §4: a denied request costs nothing
    worker_.metrics().denied(kind.denied_reason);
  } else if (ex.forwarded) {
    // SPEC §3: a non-streamed answer carries its cost: what the ledger charges this request (an
    // estimate when the upstream may have read the prompt before it failed, else 0).
    price(ex);
    response.set("x-spendgate-cost-usd", ex.costUsd());
  } else {
    response.set("x-spendgate-cost-usd", "0");  // never reached the upstream
  }
  for (const auto& [name, value] : headers) response.set(name, value);
  response.body() = core::errorBody(format, kind, message);
  response.keep_alive(keep_alive);
  response.prepare_payload();
  ex.record->status = kind.status;
  ex.record->error = std::move(message);

  deadline_.arm(Clock::now() + kErrorWriteTimeout);
  beast::error_code ec;
  std::size_t n = 0;
  if (ex.head) {
    // RFC 9110 §9.3.2: the head a GET would get, Content-Length included, and no body (a body
    // would be read as the start of the next answer on this connection).
    http::response_serializer<http::string_body> serializer{response};
    std::tie(ec, n) = co_await http::async_write_header(socket_, serializer, use_nothrow);
  } else {
    std::tie(ec, n) = co_await http::async_write(socket_, response, use_nothrow);
  }
  ec = deadline_.finish(ec);
  ex.record->bytes_out += n;
  if (ec || keep_alive || ex.request_body_read) co_return;

  // Lingering close: let the client finish sending so it reads this answer, not a reset.
  beast::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
  std::array<char, 16384> sink;
  std::size_t drained = 0;
  const auto linger_end = Clock::now() + kLingerTime;
  lingering_ = !draining_;
  while (lingering_ && drained < kLingerBytes) {
    deadline_.arm(std::min(linger_end, Clock::now() + kLingerIdle));
    auto [rec, got] = co_await socket_.async_read_some(net::buffer(sink), use_nothrow);
    if (rec) break;
    drained += got;
  }
  lingering_ = false;
  deadline_.finish({});
}

void ClientSession::finish(Exchange& ex) {
  // Closed and uncounted before anything that can throw: a log line or a metric that failed
  // is not tried again (abandon), so nothing is logged twice and the count always comes back.
  ex.closed = true;
  if (ex.counted) worker_.requestFinished();
  const auto now = std::chrono::steady_clock::now();
  ex.record->total_ms = millisSince(ex.start, now);
  worker_.logger().access(*ex.record);
  if (ex.record->status != 0) {
    const std::string_view model =
        !ex.metric_model.empty() ? ex.metric_model : std::string_view(ex.info.requested_model);
    worker_.metrics().request(ex.record->provider, model, ex.record->status,
                              ex.record->upstream_ms / 1000.0,
                              (ex.record->total_ms - ex.record->upstream_ms) / 1000.0);
  }
  if (current_.get() == &ex) current_.reset();
}

}  // namespace spendgate::proxy
