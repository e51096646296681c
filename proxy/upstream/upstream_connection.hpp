#pragma once

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <optional>
#include <string>

#include "proxy/net.hpp"
#include "proxy/server/runtime.hpp"

namespace spendgate::proxy {

/**
 * One connection to an upstream, plain or TLS. Owned by a request while in use and by the
 * UpstreamPool while idle between requests (keep-alive).
 */
class UpstreamConnection {
public:
  using TlsStream = beast::ssl_stream<beast::tcp_stream>;

  UpstreamConnection(net::any_io_executor executor, const ProviderRuntime& provider);

  /**
   * Resolves, connects and (for https) handshakes with SNI, peer and host-name verification.
   * @return an error, beast::error::timeout if the deadline passed first
   */
  net::awaitable<beast::error_code> connect(const ProviderRuntime& provider,
                                            std::chrono::steady_clock::time_point deadline);

  bool isTls() const { return tls_.has_value(); }
  beast::tcp_stream& plain() { return *plain_; }
  TlsStream& tls() { return *tls_; }
  beast::tcp_stream& tcp() { return isTls() ? beast::get_lowest_layer(*tls_) : *plain_; }

  /** Bytes read past the end of the last response (normally none). */
  beast::flat_buffer& buffer() { return buffer_; }

  bool isOpen() { return tcp().socket().is_open(); }

  /** Closes the socket; pending operations on it complete with an error. */
  void close();

  /** @return false if the peer has closed or reset this idle connection. */
  bool looksAlive();

  const std::string& poolKey() const { return pool_key_; }
  std::chrono::steady_clock::time_point idleSince() const { return idle_since_; }
  void markIdle() { idle_since_ = std::chrono::steady_clock::now(); }

private:
  std::optional<beast::tcp_stream> plain_;
  std::optional<TlsStream> tls_;
  beast::flat_buffer buffer_;
  std::string pool_key_;
  std::chrono::steady_clock::time_point idle_since_;
};

}  // namespace spendgate::proxy
