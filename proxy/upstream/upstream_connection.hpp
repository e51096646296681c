#pragma once

#include <boost/asio/compose.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
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
  ~UpstreamConnection();
  UpstreamConnection(const UpstreamConnection&) = delete;
  UpstreamConnection& operator=(const UpstreamConnection&) = delete;

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
   * The idle read (plain connections): once an answer has been read whole and nothing of it is
   * left over in buffer(), the read of the next answer starts at once, into buffer(), and stays
   * pending while the connection is idle. Starting it is the one recv the MSG_PEEK probe was
   * (it fails with EAGAIN when nothing came, and then waits in Asio's reactor, no system call);
   * it replaces the probe and the failing read that followed the next request. What it gets
   * while the connection is idle (bytes that answer no request, the upstream's close, an error)
   * closes the connection at once, as nginx's keepalive close handler does: isOpen() turns
   * false, the relay does not pool it and the pool skips it. Once the pool has handed the
   * connection out (takeIdleRead) its completion is the answer to the request now sent
   * (asyncIdleRead). Nothing happens on TLS connections or with bytes left over.
   */
  void startIdleRead();

  /**
   * For the pool, when it hands the connection out. @return true if the idle read is pending:
   * nothing came while the connection was idle, so it needs no probe; its completion is now the
   * next answer's first bytes.
   */
  bool takeIdleRead();

  /** A taken idle read is to be ended (endIdleRead, after asyncIdleRead) before the answer is read.
   */
  bool idleReadTaken() const {
    return idle_read_ == IdleRead::Taken || idle_read_ == IdleRead::Done;
  }

  /**
   * Waits for a taken idle read that has not completed yet (idleReadTaken() and not done) with
   * the connection's deadline armed by the caller (the sweep closes the socket, which ends the
   * read). It completes from the read's own completion, without a trip through the scheduler.
   * Then endIdleRead().
   */
  template <class Token>
  auto asyncIdleRead(Token&& token) {
    return net::async_compose<Token, void()>(
        [this](auto& self) { this->storeWaiter(std::move(self)); }, token, *plain_);
  }

  /** A taken idle read has completed (endIdleRead() without waiting). */
  bool idleReadDone() const { return idle_read_ == IdleRead::Done; }

  /** Ends a taken idle read. @return its error; the bytes it read are in buffer() */
  beast::error_code endIdleRead();

  /** The idle read is pending and not taken (for tests). */
  bool idleReadPending() const { return idle_read_ == IdleRead::Idle; }

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
  enum class IdleRead : std::uint8_t {
    None,   // no idle read
    Idle,   // pending while the connection is idle: whatever completes it closes the connection
    Taken,  // pending, the connection handed out: its completion is the next answer's
    Done,   // taken and completed: idle_read_ec_ and the bytes in buffer_ wait for endIdleRead
  };
  /** What awaits a taken idle read: a composed operation's state, kept in Link::storage. */
  struct Waiter {
    virtual void complete() = 0;  // resumes the awaiting operation
    virtual void destroy() = 0;   // without resuming it (the loop is being destroyed)

  protected:
    ~Waiter() = default;
  };
  template <class Self>
  struct WaiterOf final : Waiter {
    explicit WaiterOf(Self&& s) : self(std::move(s)) {}
    void complete() override {
      Self resumed = std::move(self);
      this->~WaiterOf();
      resumed.complete();
    }
    void destroy() override { this->~WaiterOf(); }
    Self self;
  };
  /**
   * Shared by the connection and its pending idle read's handler, which may run (or be
   * destroyed, with the loop) after the connection is gone.
   */
  struct Link {
    UpstreamConnection* connection;
    Waiter* waiter = nullptr;
    alignas(std::max_align_t) unsigned char storage[256];
  };
  /** The idle read's completion handler. */
  struct IdleReadHandler {
    std::shared_ptr<Link> link;
    IdleReadHandler(std::shared_ptr<Link> l) : link(std::move(l)) {}
    IdleReadHandler(IdleReadHandler&&) noexcept = default;
    IdleReadHandler& operator=(IdleReadHandler&&) = delete;
    ~IdleReadHandler();
    void operator()(beast::error_code ec, std::size_t bytes);
  };
  template <class Self>
  void storeWaiter(Self&& self) {
    static_assert(sizeof(WaiterOf<Self>) <= sizeof(Link::storage));
    link_->waiter = new (link_->storage) WaiterOf<Self>(std::move(self));
  }
  void onIdleRead(beast::error_code ec, std::size_t bytes);

  std::optional<Socket> plain_;
  std::optional<TlsStream> tls_;
  beast::flat_buffer buffer_;
  IoDeadline deadline_;
  std::string pool_key_;
  std::chrono::steady_clock::time_point idle_since_;
  IdleRead idle_read_ = IdleRead::None;
  beast::error_code idle_read_ec_;
  std::shared_ptr<Link> link_;  // plain connections only
};

}  // namespace spendgate::proxy
