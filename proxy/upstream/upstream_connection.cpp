#include "proxy/upstream/upstream_connection.hpp"

#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <cerrno>

namespace spendgate::proxy {

namespace {

bool isIpLiteral(const std::string& host) {
  beast::error_code ec;
  net::ip::make_address(host, ec);
  return !ec;
}

}  // namespace

UpstreamConnection::UpstreamConnection(Executor executor, const ProviderRuntime& provider)
    : pool_key_(provider.pool_key) {
  // An answer's head (under 64 KiB) and one read past it: Beast buffers a chunk-size line or a
  // trailer section until its end with no limit of its own; past this the read fails
  // (buffer_overflow), a broken answer, instead of growing for ever.
  buffer_.max_size(2 * 65536);
  if (provider.tls) {
    tls_.emplace(executor, *provider.tls);
  } else {
    plain_.emplace(executor);
  }
}

Awaitable<beast::error_code> UpstreamConnection::connect(
    const ProviderRuntime& provider, std::chrono::steady_clock::time_point deadline) {
  const auto& up = provider.config.upstream;
  tcp::resolver resolver(co_await net::this_coro::executor);
  auto [rec, endpoints] =
      co_await resolver.async_resolve(up.host, std::to_string(up.port), use_nothrow);
  if (rec) co_return rec;

  auto& socket = this->socket();
  deadline_.arm(deadline);  // connect and TLS handshake together
  auto [cec, endpoint] = co_await net::async_connect(socket, endpoints, use_nothrow);
  if (cec) co_return deadline_.finish(cec);
  socket.set_option(tcp::no_delay(true));
  if (!tls_) {
    beast::error_code ec;
    socket.non_blocking(true, ec);  // requests are written with writeAtOnce
    co_return deadline_.finish(ec);
  }

  if (tls_) {
    SSL* ssl = tls_->native_handle();
    if (!isIpLiteral(up.host) && !SSL_set_tlsext_host_name(ssl, up.host.c_str())) {
      co_return deadline_.finish(
          beast::error_code(static_cast<int>(::ERR_get_error()), net::error::get_ssl_category()));
    }
    tls_->set_verify_mode(ssl::verify_peer);
    tls_->set_verify_callback(ssl::host_name_verification(up.host));
    auto [hec] = co_await tls_->async_handshake(ssl::stream_base::client, use_nothrow);
    co_return deadline_.finish(hec);
  }
  co_return deadline_.finish({});
}

void UpstreamConnection::close() {
  beast::error_code ec;
  socket().close(ec);
}

std::size_t UpstreamConnection::leftoverBytes() {
  std::size_t leftover = buffer_.size();
  if (tls_) {
    // Decrypted bytes OpenSSL holds, and received records it has not read yet.
    SSL* ssl = tls_->native_handle();
    leftover += static_cast<std::size_t>(std::max(::SSL_pending(ssl), 0));
    if (BIO* in = ::SSL_get_rbio(ssl)) leftover += ::BIO_ctrl_pending(in);
  }
  return leftover;
}

bool UpstreamConnection::looksAlive() {
  auto& socket = this->socket();
  if (!socket.is_open()) return false;
  char byte;
  const ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return false;  // orderly close from the upstream
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
  // Bytes that came while a plain connection sat idle answer no request: the next request would
  // read them as its answer. On TLS they are usually session tickets, which the next read
  // consumes.
  return isTls();
}

}  // namespace spendgate::proxy
