#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace spendgate::proxy {

class Logger;

/**
 * Appends ledger lines to a file from a background thread, so request threads never wait on
 * the disk. Each batch is written with O_APPEND and whole lines only; the file is synced at
 * least every second. On open, a torn last line left by a crash is cut off, so the file is
 * always a sequence of complete JSON lines.
 *
 * Batching: after a write the thread waits `batch_wait` (20 ms) for more lines, so a busy proxy
 * costs one wake-up per batch, not one per request. Once a whole wait passes with nothing queued
 * the writer is idle, and the next line wakes it at once: a lone request's line is in the file
 * within microseconds of its answer, not up to 20 ms later.
 */
class LedgerWriter {
public:
  static constexpr std::chrono::milliseconds kBatchWait{20};

  /**
   * Why the constructor could not open or create `path`, without creating it (a directory that
   * does not exist or cannot be written, a path that is a directory); nullopt when it could.
   */
  static std::optional<std::string> openProblem(const std::string& path);

  /** Opens or creates the file. Throws std::runtime_error when it cannot. */
  LedgerWriter(std::string path, Logger& logger, std::chrono::milliseconds batch_wait = kBatchWait);
  ~LedgerWriter();

  LedgerWriter(const LedgerWriter&) = delete;
  LedgerWriter& operator=(const LedgerWriter&) = delete;

  /** Queues one line (with its '\n'). Safe from any thread; does not block on I/O. */
  void append(std::string line);

  /** Blocks until every line queued so far is handed to the OS (survives a process crash). */
  void flush();

  const std::string& path() const { return path_; }

private:
  void run();
  bool writeAll(const std::string& data);

  std::string path_;
  Logger& logger_;
  int fd_ = -1;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable flushed_;
  std::vector<std::string> queue_;
  std::uint64_t queued_ = 0;   // lines ever queued
  std::uint64_t written_ = 0;  // lines ever written
  bool stopping_ = false;
  bool flush_requested_ = false;
  bool idle_ = true;             // a whole batch wait passed with nothing queued
  bool wake_requested_ = false;  // the first line after idle asks for a write now
  std::chrono::milliseconds batch_wait_;
  std::thread thread_;
};

}  // namespace spendgate::proxy
