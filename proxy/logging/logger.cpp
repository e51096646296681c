#include "proxy/logging/logger.hpp"

#include <fmt/format.h>
#include <spdlog/async.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace spendgate::proxy {

namespace {

spdlog::level::level_enum parseLevel(const std::string& level) {
  auto parsed = spdlog::level::from_str(level);
  return level == "off" ? spdlog::level::off : parsed;
}

std::string jsonLine(std::string_view level, boost::json::object fields) {
  boost::json::object line;
  line["level"] = level;
  for (auto& field : fields) line[field.key()] = std::move(field.value());
  return boost::json::serialize(line);
}

}  // namespace

Logger::Logger(const config::LoggingConfig& config) {
  pool_ = std::make_shared<spdlog::details::thread_pool>(16384, 1);
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  // Dropping the oldest line beats stalling requests when stderr cannot keep up.
  logger_ = std::make_shared<spdlog::async_logger>("spendgate", sink, pool_,
                                                   spdlog::async_overflow_policy::overrun_oldest);
  reconfigure(config);
}

Logger::~Logger() { flush(); }

void Logger::reconfigure(const config::LoggingConfig& config) {
  json_ = config.format == config::LoggingConfig::Format::Json;
  logger_->set_level(parseLevel(config.level));
  if (json_) {
    logger_->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ",%v)", spdlog::pattern_time_type::utc);
  } else {
    logger_->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
  }
  logger_->flush_on(spdlog::level::warn);
}

void Logger::write(int level, const std::string& message) {
  const auto lvl = static_cast<spdlog::level::level_enum>(level);
  if (!logger_->should_log(lvl)) return;
  if (json_) {
    // The pattern opens the object with the timestamp; the rest of the line closes it.
    std::string line = jsonLine(spdlog::level::to_string_view(lvl).data(), {{"msg", message}});
    logger_->log(lvl, std::string_view(line).substr(1));
  } else {
    logger_->log(lvl, message);
  }
}

void Logger::info(const std::string& message) { write(spdlog::level::info, message); }
void Logger::warn(const std::string& message) { write(spdlog::level::warn, message); }
void Logger::error(const std::string& message) { write(spdlog::level::err, message); }
void Logger::debug(const std::string& message) { write(spdlog::level::debug, message); }

void Logger::access(const RequestRecord& r) {
  if (!logger_->should_log(spdlog::level::info)) return;
  if (json_) {
    boost::json::object fields{{"msg", "request"},         {"request_id", r.request_id},
                               {"method", r.method},       {"path", r.target},
                               {"provider", r.provider},   {"status", r.status},
                               {"stream", r.stream},       {"bytes_in", r.bytes_in},
                               {"bytes_out", r.bytes_out}, {"upstream_ms", r.upstream_ms},
                               {"total_ms", r.total_ms}};
    if (!r.error.empty()) fields["error"] = r.error;
    std::string line = jsonLine("info", std::move(fields));
    logger_->info(std::string_view(line).substr(1));
  } else {
    logger_->info(
        "{} {} {} provider={} status={} stream={} in={} out={} upstream_ms={:.2f} "
        "total_ms={:.2f}{}{}",
        r.request_id, r.method, r.target, r.provider.empty() ? "-" : r.provider, r.status, r.stream,
        r.bytes_in, r.bytes_out, r.upstream_ms, r.total_ms,
        r.error.empty() ? "" : " error=", r.error);
  }
}

bool Logger::showsErrors() const { return logger_->should_log(spdlog::level::err); }

void Logger::flush() { logger_->flush(); }

}  // namespace spendgate::proxy
