#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "core/enforcement/emergency_stop.hpp"

namespace spendgate::core {
class MemoryCounterStore;
}

namespace spendgate::proxy {

class Logger;

/**
 * The memory store's emergency stop across restarts (docs/enforcement.md, "Across restarts"):
 * one small JSON file next to the ledger, rewritten (temp file, fsync, rename) whenever the stop
 * changes. With the Redis store Redis keeps the stop and there is no file.
 *
 *   {"version":1,"active":true,"reason":"incident","since_ms":1795000000000,
 *    "until_ms":null,"source":"manual","suppressed_until_ms":null}
 */

/** @return where the stop of an instance writing `ledger_path` is kept: `<ledger_path>.estop.json`.
 */
std::string emergencyStopFilePath(const std::string& ledger_path);

/** @return the file's text for `state` (one line, ending in a newline). */
std::string formatEmergencyStopFile(const core::EmergencyStopState& state);

struct EmergencyStopFileParse {
  std::optional<core::EmergencyStopState> state;  // set when the text was understood
  std::string error;                              // else what is wrong with it
};

/** Reads formatEmergencyStopFile's text back; strict: any missing or odd field is an error. */
EmergencyStopFileParse parseEmergencyStopFile(std::string_view text);

struct EmergencyStopFileLoad {
  std::optional<core::EmergencyStopState> state;  // nullopt: no file (never written) or error
  std::string error;  // "PATH: message" when the file exists but cannot be read or understood
};

/** Reads the file at `path`. A missing file is no error (the stop was never changed). */
EmergencyStopFileLoad loadEmergencyStopFile(const std::string& path);

/**
 * Writes `state` to `path` atomically: PATH.tmp in the same directory, fsync, rename over PATH,
 * fsync the directory. @return "" or "PATH: message".
 */
std::string writeEmergencyStopFile(const std::string& path, const core::EmergencyStopState& state);

/**
 * Keeps a MemoryCounterStore's emergency stop in its file: save() (the store's change listener)
 * writes the store's current state unless the file already holds it. Writes are serialised, so
 * the last write is always the latest state. A failed write is logged as an error (the stop
 * still applies in memory) and retried at the next change.
 */
class EmergencyStopFile {
public:
  /** @param written what the file holds now (as loaded at start-up), or nullopt. */
  EmergencyStopFile(std::string path,
                    core::MemoryCounterStore& store,
                    Logger& logger,
                    std::optional<core::EmergencyStopState> written);

  void save();

  const std::string& path() const { return path_; }

  /** @return "" after a successful write (or none yet), else the last write's "PATH: message". */
  std::string lastError() const;

private:
  std::string path_;
  core::MemoryCounterStore& store_;
  Logger& logger_;
  mutable std::mutex mutex_;
  std::optional<core::EmergencyStopState> written_;
  std::string last_error_;
};

}  // namespace spendgate::proxy
