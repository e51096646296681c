#pragma once

#include <boost/beast/core/flat_buffer.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/enforcement/denial.hpp"
#include "core/enforcement/request_attributes.hpp"
#include "core/http/canonical_path.hpp"
#include "core/http/error_response.hpp"
#include "core/memory/buffer_grant.hpp"
#include "core/store/counter_store_types.hpp"
#include "proxy/identity/caller_key.hpp"
#include "proxy/identity/identity_memo.hpp"
#include "proxy/logging/request_record.hpp"
#include "proxy/net.hpp"
#include "proxy/relay/request_parser.hpp"
#include "proxy/relay/response_parser.hpp"
#include "proxy/server/io_deadline.hpp"
#include "proxy/server/runtime.hpp"

namespace spendgate::core {
struct Cost;
}

namespace spendgate::proxy {

class Worker;
class UpstreamConnection;
struct Exchange;
template <class Session>
class AbandonOnUnwind;

/**
 * One client connection: reads requests one after another (keep-alive), routes each to its
 * provider and relays the answer back as it arrives. The coroutine frame and a shared_ptr
 * keep the session alive while an operation is pending.
 */
class ClientSession : public std::enable_shared_from_this<ClientSession> {
public:
  ClientSession(Socket socket, Worker& worker);
  ~ClientSession();

  static void start(std::shared_ptr<ClientSession> session);

  /** Shutdown: close now if waiting for a request, else close after the current answer. */
  void drain();
  /** Shutdown grace over: close now. */
  void close();

  /**
   * Called by the worker every kSweepInterval. Closes the client or upstream socket whose
   * operation has passed its deadline (IoDeadline: no timer per operation). And once a
   * forwarded request has been seen by two sweeps in a row (it has run for at least one
   * interval), starts watching the client socket so that a client who leaves stops the
   * upstream. Short requests, most of them, never pay for the watch (an epoll_ctl and a
   * wake-up each).
   */
  void sweep(std::chrono::steady_clock::time_point now);

private:
  friend class AbandonOnUnwind<ClientSession>;  // calls abandon()

  // A client request as read (the request line, fields in the session's request_fields_, body):
  // its target and body in request_target_ and request_body_.
  using Request = RequestParser;
  using Clock = std::chrono::steady_clock;

  Awaitable<void> run();
  /** Serves one request. @return whether to keep the connection for another. */
  Awaitable<bool> serveOne();
  /**
   * Identity, pricing checks and request rewrites for metering, before anything is sent.
   * @return the error to answer with instead of forwarding, if any
   */
  std::optional<std::pair<core::ProxyError, std::string>> admit(Exchange& exchange,
                                                                Request& request,
                                                                const core::CanonicalPath& path);
  /** A plan the store answers asynchronously (Redis without a leased slice). */
  struct PendingAdmission;
  /**
   * Emergency stop, per-request limit, rate limits and budgets (SPEC §4), in that order, as far
   * as they are decided without waiting: sets `denial` when refused. A store that must be waited
   * for makes it return the plan for admitLater() instead. A plain function, not a coroutine:
   * the memory store and leased slices answer at once, and a coroutine frame per call costs.
   */
  std::unique_ptr<PendingAdmission> enforceAtOnce(Exchange& exchange,
                                                  std::optional<core::Denial>& denial);
  Awaitable<std::optional<core::Denial>> admitLater(Exchange& exchange,
                                                    const PendingAdmission& pending);
  Awaitable<void> sendDenial(Exchange& exchange, const core::Denial& denial, bool keep_alive);
  Awaitable<bool> forward(Exchange& exchange, Request& request);
  /** Reads the answer's usage and prices it, once (needed before a held answer is sent). */
  void price(Exchange& exchange);
  /** Prices the request and settles its reservation and rate limits, once. */
  void settleCounters(Exchange& exchange);
  /** Settles them at the cost priced so far (none if not priced), once. */
  void settleCountersAsPriced(Exchange& exchange);
  /**
   * Pricing threw twice (abandon): charges the worst case admission reserved, with the usage
   * read if it was, else the worst case's token bounds; estimated.
   */
  void priceAtWorstCase(Exchange& exchange) noexcept;
  /**
   * An answer priced above the request's worst case: remembered (ServedModelMemory), so later
   * requests are bounded at its prices too, and said once in the log.
   */
  void learnServedModel(const Exchange& exchange, const core::Cost& cost);
  /** Writes the ledger line for a forwarded request (settling its counters first), once. */
  void settle(Exchange& exchange);
  /** Writes the ledger line for a forwarded request as priced, once. */
  void writeLine(Exchange& exchange);
  template <class Stream>
  Awaitable<bool> relayResponse(Stream& upstream, Exchange& exchange);

  /** Extra response headers on an error (retry-after, x-ratelimit-*, x-should-retry, ...). */
  using HeaderList = std::vector<std::pair<std::string, std::string>>;

  /**
   * A held (non-streamed) answer failed before anything of it went out: the client gets `error`
   * in its format instead of a closed socket. @return whether the connection stays open.
   */
  Awaitable<bool> failHeldAnswer(Exchange& exchange, core::ProxyError error, std::string message);
  /** Empties held_answer_, keeping its capacity up to kKeptHeldAnswer for the next answer. */
  void releaseHeldAnswer();

  Awaitable<void> sendError(Exchange& exchange,
                            core::ProviderFormat format,
                            core::ProxyError error,
                            std::string message,
                            bool keep_alive,
                            const HeaderList& headers = {});
  void watchForDisconnect(const std::shared_ptr<Exchange>& exchange);
  void finish(Exchange& exchange);
  /**
   * The session failed (an exception) or ended without finishing its request: closes the client
   * and the upstream, and settles and logs the counted request as a failed connection (502
   * unless a status went out), once. Never throws.
   */
  void abandon(std::string_view why) noexcept;

  Socket socket_;
  IoDeadline deadline_;  // of the pending operation on socket_
  /** The most the read buffers hold that the parser has not taken (see the constructor). */
  static constexpr std::size_t kMaxUnparsedBytes = 2 * 65536;

  beast::flat_buffer buffer_;
  // The heads written for each request, kept with their capacity for the connection's next one
  // (one request at a time per connection): no allocation per head.
  std::string upstream_head_;
  std::string response_head_;
  std::string own_headers_;
  // The fields of the client's request head (RequestParser) and of the upstream's answer head
  // (ResponseParser), kept the same way, and the request's target and body (a body only up to
  // RequestParser::kKeptBodyCapacity).
  FlatFields request_fields_;
  std::string request_target_;
  std::string request_body_;
  // A held (non-streamed, metered) answer while it is held (relayResponse) and until it is
  // priced; kept with its capacity up to kKeptHeldAnswer for the next (client_session.cpp).
  std::string held_answer_;
  // held_answer_'s share, past 1 MiB, of what all requests may hold (Worker::buffers).
  core::BufferGrant held_grant_;
  FlatFields response_fields_;
  // The key of the request being admitted or served (findCallerKey, its strings reused).
  CallerKey caller_;
  // The access-log record of the request being served (Exchange::record), its strings reused.
  RequestRecord record_;
  // What settleCounters hands the enforcer, its reservation id's string reused.
  core::Settlement settlement_;
  // The caller's key of the connection's last request and its SHA-256 digest (hex; "" for none).
  std::string caller_key_;
  std::string caller_key_hash_;
  // The last request's identity and what it was resolved from: an idle connection keeps it (a
  // few short strings) and a reference to the resolver it came from until its next request.
  IdentityMemo identity_memo_;
  // The last request's enforcement attributes (enforceAtOnce), each assigned only when it
  // differs from the request before's.
  core::RequestAttributes attributes_;
  Worker& worker_;
  bool waiting_for_request_ = true;
  bool lingering_ = false;  // dropping the rest of a refused body before closing
  bool draining_ = false;
  std::shared_ptr<Exchange> in_flight_;  // the forwarded request being served, if any
  std::shared_ptr<Exchange> current_;    // the counted request being served, until finish()
  bool seen_by_sweep_ = false;           // in_flight_ was already there at the last sweep
  bool watching_ = false;                // a disconnect watch is pending on the client socket
};

}  // namespace spendgate::proxy
