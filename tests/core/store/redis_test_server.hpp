#pragma once

// Test-only I/O: starts a private redis-server and talks RESP to it over a blocking socket.
// core/ itself never does I/O; this lets the Lua scripts run against the real thing.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/store/script_value.hpp"

extern char** environ;

namespace spendgate::core::testing {

/** One blocking RESP2 connection. Not thread-safe. */
class RespConnection {
public:
  /** @return a connection, or null when nothing listens on 127.0.0.1:port. */
  static std::unique_ptr<RespConnection> connect(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return nullptr;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd);
      return nullptr;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return std::unique_ptr<RespConnection>(new RespConnection(fd));
  }

  ~RespConnection() { ::close(fd_); }
  RespConnection(const RespConnection&) = delete;
  RespConnection& operator=(const RespConnection&) = delete;

  /** Sends one command and waits for its reply; an Error value on a broken connection. */
  ScriptValue command(const std::vector<std::string>& args) {
    std::string out = "*" + std::to_string(args.size()) + "\r\n";
    for (const auto& a : args) out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    for (std::size_t sent = 0; sent < out.size();) {
      const ssize_t n = ::send(fd_, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return ScriptValue::fromError("connection: send failed");
      sent += static_cast<std::size_t>(n);
    }
    return read();
  }

private:
  explicit RespConnection(int fd) : fd_(fd) {}

  bool fill() {
    char chunk[16384];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  std::optional<std::string> line() {
    for (;;) {
      const auto end = buffer_.find("\r\n", pos_);
      if (end != std::string::npos) {
        std::string text = buffer_.substr(pos_, end - pos_);
        pos_ = end + 2;
        return text;
      }
      compact();
      if (!fill()) return std::nullopt;
    }
  }

  std::optional<std::string> bytes(std::size_t count) {
    while (buffer_.size() - pos_ < count + 2) {
      compact();
      if (!fill()) return std::nullopt;
    }
    std::string data = buffer_.substr(pos_, count);
    pos_ += count + 2;
    return data;
  }

  void compact() {
    buffer_.erase(0, pos_);
    pos_ = 0;
  }

  ScriptValue read() {
    const auto header = line();
    if (!header || header->empty()) return ScriptValue::fromError("connection: read failed");
    const std::string rest = header->substr(1);
    switch ((*header)[0]) {
      case '+':
        return ScriptValue::fromString(rest);
      case '-':
        return ScriptValue::fromError(rest);
      case ':':
        return ScriptValue::fromInteger(std::stoll(rest));
      case '$': {
        const long long size = std::stoll(rest);
        if (size < 0) return ScriptValue::nil();
        const auto data = bytes(static_cast<std::size_t>(size));
        if (!data) return ScriptValue::fromError("connection: read failed");
        return ScriptValue::fromString(*data);
      }
      case '*': {
        const long long size = std::stoll(rest);
        if (size < 0) return ScriptValue::nil();
        std::vector<ScriptValue> items;
        for (long long i = 0; i < size; ++i) items.push_back(read());
        return ScriptValue::fromArray(std::move(items));
      }
    }
    return ScriptValue::fromError("connection: bad reply");
  }

  int fd_;
  std::string buffer_;
  std::size_t pos_ = 0;
};

/** A private `redis-server --save "" --appendonly no` on a free loopback port. */
class RedisTestServer {
public:
  /** @return a running server, or null when redis-server is not installed or does not start. */
  static std::unique_ptr<RedisTestServer> start() {
    for (int attempt = 0; attempt < 3; ++attempt) {
      const int port = freePort();
      if (port <= 0) continue;
      const std::string port_text = std::to_string(port);
      std::vector<std::string> argv_text = {"redis-server", "--port",     port_text, "--bind",
                                            "127.0.0.1",    "--save",     "",        "--appendonly",
                                            "no",           "--loglevel", "warning"};
      std::vector<char*> argv;
      for (auto& a : argv_text) argv.push_back(a.data());
      argv.push_back(nullptr);
      posix_spawn_file_actions_t actions;
      posix_spawn_file_actions_init(&actions);
      posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
      pid_t pid = 0;
      const int rc = posix_spawnp(&pid, "redis-server", &actions, nullptr, argv.data(), environ);
      posix_spawn_file_actions_destroy(&actions);
      if (rc != 0) return nullptr;  // not installed
      std::unique_ptr<RedisTestServer> server(new RedisTestServer(pid, port));
      for (int i = 0; i < 500; ++i) {
        if (auto c = RespConnection::connect(port)) {
          if (c->command({"PING"}).toText() == "PONG") return server;
        }
        int status = 0;
        if (::waitpid(pid, &status, WNOHANG) == pid) {
          server->pid_ = 0;  // exited (port taken?): try another port
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    return nullptr;
  }

  ~RedisTestServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  RedisTestServer(const RedisTestServer&) = delete;
  RedisTestServer& operator=(const RedisTestServer&) = delete;

  int port() const { return port_; }
  std::unique_ptr<RespConnection> connect() const { return RespConnection::connect(port_); }

private:
  RedisTestServer(pid_t pid, int port) : pid_(pid), port_(port) {}

  static int freePort() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof addr;
    int port = -1;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &size) == 0) {
      port = ntohs(addr.sin_port);
    }
    ::close(fd);
    return port;
  }

  pid_t pid_;
  int port_;
};

}  // namespace spendgate::core::testing
