#pragma once

#include <spdlog/fwd.h>

namespace spdlog::details {
class thread_pool;
}

#include <atomic>
#include <memory>

#include "config/config.hpp"
#include "proxy/logging/request_record.hpp"

namespace spendgate::proxy {

/**
 * The process logger: operational messages and one access line per request, as text or JSON
 * lines on stderr. Writes happen on a background thread so the event loop never waits on them.
 */
class Logger {
public:
  explicit Logger(const config::LoggingConfig& config);
  ~Logger();

  void info(const std::string& message);
  void warn(const std::string& message);
  void error(const std::string& message);
  void debug(const std::string& message);

  /** Writes the access-log line for a finished request. */
  void access(const RequestRecord& record);

  /** Changes format and level (hot reload). */
  void reconfigure(const config::LoggingConfig& config);

  /** Whether error() writes anything at the configured level ("off" writes nothing). */
  bool showsErrors() const;

  /**
   * Asks the background thread to flush what is queued before it; it does not wait. Every queued
   * line is written when the Logger is destroyed (the pool's thread drains its queue first).
   */
  void flush();

private:
  void write(int level, const std::string& message);

  // Our own pool, not spdlog's global one: it must outlive logger_ even at static teardown.
  std::shared_ptr<spdlog::details::thread_pool> pool_;
  std::shared_ptr<spdlog::logger> logger_;
  std::atomic<bool> json_ = false;  // reload may flip it while workers log
};

}  // namespace spendgate::proxy
