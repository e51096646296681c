#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "proxy/upstream/upstream_connection.hpp"

namespace spendgate::proxy {

/**
 * Idle keep-alive connections to upstreams, per worker thread (so no locking), keyed by
 * upstream origin. Reusing a connection saves a TCP and TLS handshake on every call.
 */
class UpstreamPool {
public:
  /** Idle connections are dropped after this long: upstreams close them on their own side. */
  static constexpr std::chrono::seconds kMaxIdle{50};
  /** Per origin; more idle connections than this are closed instead of kept. */
  static constexpr std::size_t kMaxIdlePerOrigin = 64;
  /**
   * A TLS connection idle for less than this is reused without asking the kernel whether the
   * upstream closed it (one recv per request saved under load): upstreams close idle
   * connections after seconds, and a request that still meets a closed one is retried once on
   * a new connection. A plain connection is always asked (looksAlive): bytes that came while it
   * was idle would be read as the next request's answer. On TLS such bytes cannot be told from
   * session tickets without reading them, so they are not looked for.
   */
  static constexpr std::chrono::milliseconds kTrustedIdle{1000};

  /**
   * @return an idle connection that still looks alive (plain ones: with nothing received while
   * idle), or null
   */
  std::unique_ptr<UpstreamConnection> acquire(const std::string& pool_key);

  /**
   * Returns a connection after a complete exchange whose answer ended exactly at its framing
   * boundary (UpstreamConnection::leftoverBytes() is 0; the caller checks).
   */
  void release(std::unique_ptr<UpstreamConnection> connection);

  /** Closes every idle connection (shutdown). */
  void clear();

private:
  using Stack = std::vector<std::unique_ptr<UpstreamConnection>>;

  /** The idle connections of `pool_key` (an empty stack the first time). */
  Stack& stackFor(const std::string& pool_key);

  std::unordered_map<std::string, Stack> idle_;
  // The stack looked up last and its key: a request's acquire and release, and the next
  // request's, nearly always name the same origin, so a comparison replaces hashing the key.
  // (The map's nodes never move; clear() forgets it.)
  std::string last_key_;
  Stack* last_stack_ = nullptr;
};

}  // namespace spendgate::proxy
