#include "proxy/ledger/ledger_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include "proxy/logging/logger.hpp"

namespace spendgate::proxy {

namespace {

constexpr auto kSyncInterval = std::chrono::milliseconds(1000);
constexpr std::size_t kNudgeLines = 4096;
constexpr std::size_t kMaxPendingLines = 1'000'000;  // while the disk refuses writes

// Cuts a partial line left at the end by a crash mid-write.
void repairTail(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size == 0) return;
  off_t end = st.st_size;
  char last;
  if (::pread(fd, &last, 1, end - 1) != 1 || last == '\n') return;
  // Walk back to the last newline.
  char buffer[4096];
  off_t pos = end;
  while (pos > 0) {
    const off_t chunk = std::min<off_t>(pos, sizeof buffer);
    if (::pread(fd, buffer, chunk, pos - chunk) != chunk) return;
    for (off_t i = chunk - 1; i >= 0; --i) {
      if (buffer[i] == '\n') {
        if (::ftruncate(fd, pos - chunk + i + 1) != 0) {
          throw std::runtime_error("ledger " + path +
                                   ": cannot cut torn last line: " + std::strerror(errno));
        }
        return;
      }
    }
    pos -= chunk;
  }
  if (::ftruncate(fd, 0) != 0) {
    throw std::runtime_error("ledger " + path + ": cannot cut torn line: " + std::strerror(errno));
  }
}

}  // namespace

std::optional<std::string> LedgerWriter::openProblem(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0) {
    if (S_ISDIR(info.st_mode)) return std::string(std::strerror(EISDIR));
    if (::access(path.c_str(), W_OK) != 0) return std::string(std::strerror(errno));
    return std::nullopt;
  }
  if (errno != ENOENT) return std::string(std::strerror(errno));
  // Created at start: its directory must be there and take a new file.
  const auto slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  if (::stat(dir.c_str(), &info) != 0) return std::string(std::strerror(errno));
  if (!S_ISDIR(info.st_mode)) return std::string(std::strerror(ENOTDIR));
  if (::access(dir.c_str(), W_OK | X_OK) != 0) return std::string(std::strerror(errno));
  return std::nullopt;
}

LedgerWriter::LedgerWriter(std::string path, Logger& logger, std::chrono::milliseconds batch_wait)
    : path_(std::move(path)), logger_(logger), batch_wait_(batch_wait) {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd_ < 0) {
    throw std::runtime_error("cannot open ledger " + path_ + ": " + std::strerror(errno));
  }
  const int read_fd = ::open(path_.c_str(), O_RDWR | O_CLOEXEC);
  if (read_fd >= 0) {
    repairTail(read_fd, path_);
    ::close(read_fd);
  }
  thread_ = std::thread([this] { run(); });
}

LedgerWriter::~LedgerWriter() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
  ::close(fd_);
}

void LedgerWriter::append(std::string line) {
  bool nudge;
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(line));
    ++queued_;
    // A busy writer wakes every batch wait on its own: waking it per line would cost a context
    // switch per request. An idle one is woken by the first line, and a large backlog wakes it.
    nudge = (idle_ && !wake_requested_) || queue_.size() == kNudgeLines;
    if (nudge) wake_requested_ = true;
  }
  if (nudge) wake_.notify_one();
}

void LedgerWriter::flush() {
  std::unique_lock lock(mutex_);
  const std::uint64_t target = queued_;
  flush_requested_ = true;
  wake_.notify_one();
  flushed_.wait(lock, [&] { return written_ >= target || stopping_; });
}

bool LedgerWriter::writeAll(const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      logger_.error("ledger " + path_ + ": write failed: " + std::strerror(errno) +
                    " (records kept in memory, retrying)");
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

void LedgerWriter::run() {
  std::vector<std::string> batch;
  std::string data;
  auto last_sync = std::chrono::steady_clock::now();
  bool dirty = false;
  for (;;) {
    bool stopping;
    {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, batch_wait_, [&] {
        return stopping_ || flush_requested_ || wake_requested_ || queue_.size() >= kNudgeLines;
      });
      flush_requested_ = false;
      wake_requested_ = false;
      // Nothing came during a whole wait: the next line need not wait for the next one.
      idle_ = queue_.empty();
      // Failed lines from the last round go first, so order is kept.
      for (auto& line : queue_) batch.push_back(std::move(line));
      queue_.clear();
      stopping = stopping_;
    }
    std::size_t count = batch.size();
    if (count > 0) {
      data.clear();
      for (const auto& line : batch) data += line;
      if (writeAll(data)) {
        batch.clear();
        dirty = true;
      } else {
        count = 0;
        if (batch.size() > kMaxPendingLines) batch.erase(batch.begin());
      }
    }
    // The interval bounds what a power failure can lose; a process crash loses nothing written.
    const auto now = std::chrono::steady_clock::now();
    if (dirty && (now - last_sync >= kSyncInterval || stopping)) {
      ::fdatasync(fd_);
      last_sync = now;
      dirty = false;
    }
    {
      std::lock_guard lock(mutex_);
      written_ += count;
    }
    flushed_.notify_all();
    if (stopping && batch.empty()) {
      std::lock_guard lock(mutex_);
      if (queue_.empty()) break;
    }
    if (stopping && !batch.empty()) break;  // disk still refusing at shutdown: give up
  }
  ::fdatasync(fd_);
}

}  // namespace spendgate::proxy
