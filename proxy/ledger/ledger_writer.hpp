#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
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
 */
class LedgerWriter {
public:
  /** Opens or creates the file. Throws std::runtime_error when it cannot. */
  LedgerWriter(std::string path, Logger& logger);
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
  std::thread thread_;
};

}  // namespace spendgate::proxy
