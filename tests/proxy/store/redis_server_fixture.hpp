#pragma once

// A throw-away redis-server for tests: own process, free loopback port, no persistence.
// Header-only on purpose: tests/CMakeLists.txt builds only *_test.cpp files into proxy_tests.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace spendgate::proxy::test {

/**
 * Runs `redis-server --port P --bind 127.0.0.1 --save "" --appendonly no` as a child process.
 * start() picks a free port (once; restart() reuses it), spawns the server and waits until it
 * answers PING. stop() kills it with SIGKILL, like a crash. The child also dies with the test
 * process (PR_SET_PDEATHSIG), so a crashed test leaves no server behind.
 *
 * Usage: `RedisServerFixture server({.extra_args = {"--requirepass", "pw"}});`
 *        `if (!RedisServerFixture::available()) GTEST_SKIP(); ASSERT_TRUE(server.start()) <<
 *        server.lastError();`
 */
class RedisServerFixture {
public:
  struct Options {
    /** Appended to the command line, e.g. {"--requirepass", "secret"}. */
    std::vector<std::string> extra_args;
    /** Also listen on a Unix socket (path from socketPath()). */
    bool unix_socket = false;
    /** 0: pick a free port on the first start(). */
    std::uint16_t port = 0;
    std::chrono::milliseconds start_timeout{10000};
  };

  RedisServerFixture() : RedisServerFixture(Options{}) {}
  explicit RedisServerFixture(Options options)
      : options_(std::move(options)), port_(options_.port) {}
  RedisServerFixture(const RedisServerFixture&) = delete;
  RedisServerFixture& operator=(const RedisServerFixture&) = delete;
  ~RedisServerFixture() {
    stop();
    if (!dir_.empty()) {
      ::unlink(logPath().c_str());
      ::unlink(socketPath().c_str());
      ::rmdir(dir_.c_str());
    }
  }

  /** @return the redis-server executable found on PATH, or "". */
  static std::string executable() {
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
      if (dir.empty()) continue;
      std::string candidate = dir + "/redis-server";
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return {};
  }

  /** True if redis-server is installed (tests GTEST_SKIP otherwise). */
  static bool available() { return !executable().empty(); }

  /** A loopback TCP port nothing listens on right now. */
  static std::uint16_t freePort() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t length = sizeof(addr);
    std::uint16_t port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) == 0) {
      port = ntohs(addr.sin_port);
    }
    ::close(fd);
    return port;
  }

  /**
   * Starts the server and waits until it answers PING. The first start picks a free port
   * (retrying with another one if the port was taken meanwhile); later starts reuse it.
   */
  bool start() {
    if (running()) return true;
    if (dir_.empty() && !makeDir()) return false;
    const bool fixed_port = port_ != 0;
    for (int tries = 0; tries < (fixed_port ? 1 : 3); ++tries) {
      if (!fixed_port) port_ = freePort();
      if (spawn() && waitUntilReady()) return true;
      stop();
    }
    return false;
  }

  /** Kills the server (SIGKILL: no goodbye to clients, like a crash) and reaps it. */
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  /** stop() then start() on the same port. */
  bool restart() {
    stop();
    return start();
  }

  bool running() const { return pid_ > 0; }
  std::uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string socketPath() const { return dir_ + "/redis.sock"; }
  std::string logPath() const { return dir_ + "/redis.log"; }

  /** `redis://127.0.0.1:<port>/<db>`, optionally with credentials. */
  std::string url(int db = 0, const std::string& userinfo = "") const {
    return "redis://" + (userinfo.empty() ? "" : userinfo + "@") +
           "127.0.0.1:" + std::to_string(port_) + "/" + std::to_string(db);
  }

  /** Why start() failed, including the tail of the server log. */
  const std::string& lastError() const { return last_error_; }

  /**
   * Sends one inline command on a fresh blocking connection (test-thread helper, e.g. to check
   * state behind the client's back). @return the raw RESP reply, or "" on failure.
   */
  std::string rawCommand(
      const std::string& inline_command,
      std::chrono::milliseconds timeout = std::chrono::milliseconds(2000)) const {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return {};
    timeval tv{};
    tv.tv_sec = timeout.count() / 1000;
    tv.tv_usec = (timeout.count() % 1000) * 1000;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port_);
    std::string reply;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
      const std::string line = inline_command + "\r\n";
      if (::send(fd, line.data(), line.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(line.size())) {
        char buffer[4096];
        const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
        if (n > 0) reply.assign(buffer, static_cast<std::size_t>(n));
      }
    }
    ::close(fd);
    return reply;
  }

private:
  bool makeDir() {
    std::string pattern = "/tmp/spendgate-redis-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      last_error_ = "mkdtemp failed";
      return false;
    }
    dir_ = pattern;
    return true;
  }

  bool spawn() {
    const std::string binary = executable();
    if (binary.empty()) {
      last_error_ = "redis-server not found on PATH";
      return false;
    }
    std::vector<std::string> args = {binary,
                                     "--port",
                                     std::to_string(port_),
                                     "--bind",
                                     "127.0.0.1",
                                     "--save",
                                     "",
                                     "--appendonly",
                                     "no",
                                     "--daemonize",
                                     "no",
                                     "--dir",
                                     dir_,
                                     "--logfile",
                                     logPath()};
    if (options_.unix_socket) {
      socket_path_ = socketPath();
      args.insert(args.end(), {"--unixsocket", socket_path_, "--unixsocketperm", "700"});
    }
    args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);

    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
      last_error_ = "fork failed";
      return false;
    }
    if (pid == 0) {
      // Child: only async-signal-safe calls until exec.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      const int null_fd = ::open("/dev/null", O_RDWR);
      if (null_fd >= 0) {
        ::dup2(null_fd, STDIN_FILENO);
        ::dup2(null_fd, STDOUT_FILENO);
        ::dup2(null_fd, STDERR_FILENO);
      }
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    pid_ = pid;
    return true;
  }

  bool waitUntilReady() {
    const auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        last_error_ = "redis-server exited during start-up (port " + std::to_string(port_) +
                      "); log: " + logTail();
        return false;
      }
      // Any RESP answer counts: "+PONG", or "-NOAUTH" behind --requirepass.
      const std::string reply = rawCommand("PING", std::chrono::milliseconds(200));
      if (!reply.empty() && (reply[0] == '+' || reply[0] == '-')) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    last_error_ = "redis-server did not answer PING in time; log: " + logTail();
    return false;
  }

  std::string logTail() const {
    std::ifstream in(logPath());
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return content.size() > 800 ? content.substr(content.size() - 800) : content;
  }

  Options options_;
  std::string dir_;
  std::string socket_path_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
  std::string last_error_;
};

}  // namespace spendgate::proxy::test
