#include "proxy/store/emergency_stop_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "core/enforcement/period.hpp"
#include "core/store/memory_counter_store.hpp"
#include "proxy/logging/logger.hpp"

namespace spendgate::proxy {

namespace {

constexpr std::int64_t kVersion = 1;

boost::json::value optionalMillis(
    const std::optional<std::chrono::system_clock::time_point>& time) {
  if (!time) return nullptr;
  return core::unixMillis(*time);
}

/** A time field: an integer (unix milliseconds), or null where `nullable`. */
bool readMillis(const boost::json::object& object,
                const char* name,
                bool nullable,
                std::optional<std::chrono::system_clock::time_point>& out,
                std::string& error) {
  const auto* value = object.if_contains(name);
  if (!value) {
    error = std::string("missing \"") + name + "\"";
    return false;
  }
  if (value->is_null() && nullable) {
    out.reset();
    return true;
  }
  if (!value->is_int64()) {
    error = std::string("\"") + name + "\" must be " +
            (nullable ? "unix milliseconds or null" : "unix milliseconds");
    return false;
  }
  out = core::fromUnixMillis(value->as_int64());
  return true;
}

std::string errnoText(const std::string& what) { return what + ": " + std::strerror(errno); }

}  // namespace

std::string emergencyStopFilePath(const std::string& ledger_path) {
  return ledger_path + ".estop.json";
}

std::string formatEmergencyStopFile(const core::EmergencyStopState& state) {
  boost::json::object object;
  object["version"] = kVersion;
  object["active"] = state.active;
  object["reason"] = state.reason;
  object["since_ms"] = core::unixMillis(state.since);
  object["until_ms"] = optionalMillis(state.until);
  object["source"] = std::string(core::emergencyStopSourceName(state.source));
  object["suppressed_until_ms"] = optionalMillis(state.auto_suppressed_until);
  return boost::json::serialize(object) + "\n";
}

EmergencyStopFileParse parseEmergencyStopFile(std::string_view text) {
  EmergencyStopFileParse out;
  boost::system::error_code ec;
  const auto value = boost::json::parse(text, ec);
  if (ec) {
    out.error = "not JSON (" + ec.message() + ")";
    return out;
  }
  const auto* object = value.if_object();
  if (!object) {
    out.error = "not a JSON object";
    return out;
  }
  const auto* version = object->if_contains("version");
  if (!version || !version->is_int64() || version->as_int64() != kVersion) {
    out.error = "\"version\" must be 1";
    return out;
  }
  core::EmergencyStopState state;
  const auto* active = object->if_contains("active");
  if (!active || !active->is_bool()) {
    out.error = "\"active\" must be true or false";
    return out;
  }
  state.active = active->as_bool();
  const auto* reason = object->if_contains("reason");
  if (!reason || !reason->is_string()) {
    out.error = "\"reason\" must be a string";
    return out;
  }
  state.reason = std::string(reason->as_string());
  const auto* source = object->if_contains("source");
  if (!source || !source->is_string() ||
      (source->as_string() != "manual" && source->as_string() != "auto")) {
    out.error = "\"source\" must be \"manual\" or \"auto\"";
    return out;
  }
  state.source = source->as_string() == "auto" ? core::EmergencyStopSource::Auto
                                               : core::EmergencyStopSource::Manual;
  std::optional<std::chrono::system_clock::time_point> since;
  if (!readMillis(*object, "since_ms", false, since, out.error) ||
      !readMillis(*object, "until_ms", true, state.until, out.error) ||
      !readMillis(*object, "suppressed_until_ms", true, state.auto_suppressed_until, out.error)) {
    return out;
  }
  state.since = *since;
  out.state = std::move(state);
  return out;
}

EmergencyStopFileLoad loadEmergencyStopFile(const std::string& path) {
  EmergencyStopFileLoad out;
  std::error_code ec;
  const bool exists = std::filesystem::exists(path, ec);
  if (ec) {
    out.error = path + ": " + ec.message();
    return out;
  }
  if (!exists) return out;
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (in) text << in.rdbuf();
  if (!in || in.bad()) {
    out.error = path + ": cannot read the emergency stop state: " + std::strerror(errno);
    return out;
  }
  auto parsed = parseEmergencyStopFile(text.str());
  if (!parsed.state) {
    out.error = path + ": not an emergency stop state: " + parsed.error;
    return out;
  }
  out.state = std::move(parsed.state);
  return out;
}

std::string writeEmergencyStopFile(const std::string& path, const core::EmergencyStopState& state) {
  const std::string temp = path + ".tmp";
  const std::string text = formatEmergencyStopFile(state);
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return errnoText(temp);
  std::size_t done = 0;
  while (done < text.size()) {
    const auto n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      auto error = errnoText(temp);
      ::close(fd);
      ::unlink(temp.c_str());
      return error;
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    auto error = errnoText(temp);
    ::close(fd);
    ::unlink(temp.c_str());
    return error;
  }
  ::close(fd);
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    auto error = errnoText(path);
    ::unlink(temp.c_str());
    return error;
  }
  // The rename itself lasts once the directory is on disk.
  auto dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return {};
}

EmergencyStopFile::EmergencyStopFile(std::string path,
                                     core::MemoryCounterStore& store,
                                     Logger& logger,
                                     std::optional<core::EmergencyStopState> written)
    : path_(std::move(path)), store_(store), logger_(logger), written_(std::move(written)) {}

void EmergencyStopFile::save() {
  std::lock_guard lock(mutex_);
  core::EmergencyStopState state;
  store_.emergencyStop([&state](core::StoreResult<core::EmergencyStopState> current) {
    if (current.ok()) state = *current.value;
  });
  if (written_ && *written_ == state) return;
  if (auto error = writeEmergencyStopFile(path_, state); !error.empty()) {
    logger_.error("cannot keep the emergency stop across restarts (it applies in memory): " +
                  error);
    last_error_ = std::move(error);
    return;
  }
  written_ = std::move(state);
  last_error_.clear();
}

std::string EmergencyStopFile::lastError() const {
  std::lock_guard lock(mutex_);
  return last_error_;
}

}  // namespace spendgate::proxy
