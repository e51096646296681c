#pragma once

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

#include "proxy/net.hpp"
#include "proxy/server/io_deadline.hpp"
#include "proxy/server/runtime.hpp"

namespace spendgate::proxy {

/**
 * One connection to an upstream, plain or TLS. Owned by a request while in use and by the
 * UpstreamPool while idle between requests (keep-alive).
 */
class UpstreamConnection {
public:
  using TlsStream = beast::ssl_stream<Socket>;

  UpstreamConnection(Executor executor, const ProviderRuntime& provider);

  /**
   * Resolves, connects and (for https) handshakes with SNI, peer and host-name verification.
   * @return an error, beast::error::timeout if the deadline passed first (enforced by the
   * worker's sweep through deadline())
   */
  Awaitable<beast::error_code> connect(const ProviderRuntime& provider,
                                       std::chrono::steady_clock::time_point deadline);

  bool isTls() const { return tls_.has_value(); }
  Socket& plain() { return *plain_; }
  TlsStream& tls() { return *tls_; }
  Socket& socket() { return isTls() ? tls_->next_layer() : *plain_; }

  /** Armed around every asynchronous operation on this connection; see IoDeadline. */
  IoDeadline& deadline() { return deadline_; }

  /** Bytes read past the end of the last response (normally none). */
  beast::flat_buffer& buffer() { return buffer_; }

  bool isOpen() { return socket().is_open(); }

  /** Closes the socket; pending operations on it complete with an error. */
  void close();

  /**
   * Bytes received past the end of the last answer and not read: in buffer(), and on TLS in
   * OpenSSL (decrypted or not). Anything here answers no request, so a connection with any is
   * closed, not pooled: the next request would read them as its answer.
   */
  std::size_t leftoverBytes();

  /**
   * One non-blocking MSG_PEEK recv.
   * @return false if the peer has closed or reset this idle connection, or (plain connections)
   * sent bytes while it was idle
   */
  bool looksAlive();

  const std::string& poolKey() const { return pool_key_; }
  std::chrono::steady_clock::time_point idleSince() const { return idle_since_; }
  void markIdle() { idle_since_ = std::chrono::steady_clock::now(); }

private:
  std::optional<Socket> plain_;
  std::optional<TlsStream> tls_;
  beast::flat_buffer buffer_;
  IoDeadline deadline_;
  std::string pool_key_;
  std::chrono::steady_clock::time_point idle_since_;
};

}  // namespace spendgate::proxy
