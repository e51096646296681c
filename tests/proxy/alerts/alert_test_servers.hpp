#pragma once

// Tiny sinks for the alert dispatcher tests, each on 127.0.0.1:<ephemeral> with its own thread:
// an HTTP receiver (answers 200, a chosen status for the first N requests, or never) and an
// SMTP receiver speaking just EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP and QUIT.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace spendgate::proxy::testing {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

/** An io_context on its own thread with an acceptor on 127.0.0.1:0. */
class TestServer {
public:
  TestServer() : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {}
  virtual ~TestServer() { stop(); }

  unsigned short port() const { return acceptor_.local_endpoint().port(); }

  /** @return connections accepted so far. */
  int connections() const {
    std::lock_guard lock(mutex_);
    return connections_;
  }

  void stop() {
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }

protected:
  void start() {
    asio::co_spawn(io_, acceptLoop(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }

  virtual asio::awaitable<void> session(tcp::socket socket) = 0;

  /** Waits until `done()` holds (checked under the lock), at most `timeout`. */
  bool waitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout) const {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, done);
  }

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;

private:
  asio::awaitable<void> acceptLoop() {
    for (;;) {
      tcp::socket socket = co_await acceptor_.async_accept(asio::use_awaitable);
      {
        std::lock_guard lock(mutex_);
        ++connections_;
      }
      changed_.notify_all();
      asio::co_spawn(io_, sessionGuard(std::move(socket)), asio::detached);
    }
  }
  asio::awaitable<void> sessionGuard(tcp::socket socket) {
    try {
      co_await session(std::move(socket));
    } catch (const std::exception&) {
      // the client went away
    }
  }

  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  int connections_ = 0;
};

/** Records every request; answers 200, or `status` for the first `times`, or never (hang). */
class HttpReceiver : public TestServer {
public:
  struct Request {
    std::string target;
    std::string content_type;
    std::string alert_id;  // X-Spendgate-Alert-Id
    std::string body;
  };

  explicit HttpReceiver(bool hang = false) : hang_(hang) { start(); }
  ~HttpReceiver() override { stop(); }

  std::string url(const std::string& path = "/hook") const {
    return "http://127.0.0.1:" + std::to_string(port()) + path;
  }

  /** The next `times` requests are answered with `status`. */
  void failNext(int times, unsigned status) {
    std::lock_guard lock(mutex_);
    fail_times_ = times;
    fail_status_ = status;
  }

  std::vector<Request> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

  bool waitForRequests(std::size_t count, std::chrono::milliseconds timeout) const {
    return waitUntil([&] { return requests_.size() >= count; }, timeout);
  }

  bool waitForConnections(int count, std::chrono::milliseconds timeout) const {
    return waitUntil([&] { return connections() >= count; }, timeout);
  }

private:
  asio::awaitable<void> session(tcp::socket socket) override {
    boost::beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> request;
      co_await http::async_read(socket, buffer, request, asio::use_awaitable);
      unsigned status = 200;
      {
        std::lock_guard lock(mutex_);
        requests_.push_back({std::string(request.target()),
                             std::string(request[http::field::content_type]),
                             std::string(request["X-Spendgate-Alert-Id"]), request.body()});
        if (fail_times_ > 0) {
          --fail_times_;
          status = fail_status_;
        }
      }
      changed_.notify_all();
      if (hang_) {
        asio::steady_timer forever(socket.get_executor(), std::chrono::hours(1));
        co_await forever.async_wait(asio::use_awaitable);
        co_return;
      }
      http::response<http::string_body> response{static_cast<http::status>(status), 11};
      response.set(http::field::content_type, "text/plain");
      response.body() = status == 200 ? "ok" : "no_service";
      response.keep_alive(request.keep_alive());
      response.prepare_payload();
      co_await http::async_write(socket, response, asio::use_awaitable);
      if (!request.keep_alive()) co_return;
    }
  }

  bool hang_;
  std::vector<Request> requests_;
  int fail_times_ = 0;
  unsigned fail_status_ = 500;
};

/** A minimal SMTP server that accepts every mail. */
class SmtpReceiver : public TestServer {
public:
  struct Mail {
    std::string from;
    std::vector<std::string> to;
    std::string data;  // as received, dot-stuffing undone, without the final "."
    std::vector<std::string> commands;
  };

  SmtpReceiver() { start(); }
  ~SmtpReceiver() override { stop(); }

  std::string url() const { return "smtp://127.0.0.1:" + std::to_string(port()); }

  std::vector<Mail> mails() const {
    std::lock_guard lock(mutex_);
    return mails_;
  }

  bool waitForMails(std::size_t count, std::chrono::milliseconds timeout) const {
    return waitUntil([&] { return mails_.size() >= count; }, timeout);
  }

private:
  static std::string argument(const std::string& line) {
    const auto open = line.find('<');
    const auto close = line.rfind('>');
    if (open == std::string::npos || close == std::string::npos || close < open) return "";
    return line.substr(open + 1, close - open - 1);
  }

  asio::awaitable<void> session(tcp::socket socket) override {
    auto say = [&](std::string text) -> asio::awaitable<void> {
      co_await asio::async_write(socket, asio::buffer(text), asio::use_awaitable);
    };
    co_await say("220 test.local ESMTP ready\r\n");
    std::string buffer;
    Mail mail;
    for (;;) {
      const std::size_t n = co_await asio::async_read_until(socket, asio::dynamic_buffer(buffer),
                                                            "\r\n", asio::use_awaitable);
      std::string line = buffer.substr(0, n - 2);
      buffer.erase(0, n);
      std::string verb = line.substr(0, 4);
      for (auto& c : verb) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      mail.commands.push_back(line);
      if (verb == "EHLO") {
        co_await say("250-test.local\r\n250 8BITMIME\r\n");
      } else if (verb == "HELO") {
        co_await say("250 test.local\r\n");
      } else if (verb == "MAIL") {
        mail.from = argument(line);
        co_await say("250 OK\r\n");
      } else if (verb == "RCPT") {
        mail.to.push_back(argument(line));
        co_await say("250 OK\r\n");
      } else if (verb == "DATA") {
        co_await say("354 End data with <CR><LF>.<CR><LF>\r\n");
        const std::size_t end = co_await asio::async_read_until(
            socket, asio::dynamic_buffer(buffer), "\r\n.\r\n", asio::use_awaitable);
        std::string data = buffer.substr(0, end - 3);  // keeps the last CRLF
        buffer.erase(0, end);
        std::string undotted;
        std::size_t pos = 0;
        while (pos < data.size()) {
          auto eol = data.find("\r\n", pos);
          if (eol == std::string::npos) eol = data.size();
          std::string l = data.substr(pos, eol - pos);
          if (l.starts_with("..")) l.erase(0, 1);
          undotted += l + "\r\n";
          pos = eol + 2;
        }
        mail.data = std::move(undotted);
        {
          std::lock_guard lock(mutex_);
          mails_.push_back(mail);
        }
        changed_.notify_all();
        mail = Mail{};
        co_await say("250 OK queued\r\n");
      } else if (verb == "RSET" || verb == "NOOP") {
        co_await say("250 OK\r\n");
      } else if (verb == "QUIT") {
        co_await say("221 bye\r\n");
        co_return;
      } else {
        co_await say("502 not implemented\r\n");
      }
    }
  }

  std::vector<Mail> mails_;
};

/** @return a 127.0.0.1 port nothing listens on (bound, then closed). */
inline unsigned short closedPort() {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto port = acceptor.local_endpoint().port();
  acceptor.close();
  return port;
}

}  // namespace spendgate::proxy::testing
