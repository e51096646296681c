#include "core/store/store_commands.hpp"

#include <map>

#include "core/enforcement/period.hpp"

namespace spendgate::core {

namespace {

std::string optionalMillis(const std::optional<std::chrono::system_clock::time_point>& time) {
  return time ? std::to_string(unixMillis(*time)) : std::string();
}

}  // namespace

std::vector<std::string> emergencyStopFields(const EmergencyStopState& state) {
  return {"active",
          state.active ? "1" : "0",
          "reason",
          state.reason,
          "since_ms",
          std::to_string(unixMillis(state.since)),
          "until_ms",
          optionalMillis(state.until),
          "source",
          std::string(emergencyStopSourceName(state.source)),
          "suppressed_until_ms",
          optionalMillis(state.auto_suppressed_until)};
}

StoreResult<EmergencyStopState> parseEmergencyStop(const ScriptValue& reply) {
  using Result = StoreResult<EmergencyStopState>;
  if (reply.type == ScriptValue::Type::Error)
    return Result::failure("emergency stop: " + reply.str);
  if (reply.type != ScriptValue::Type::Array || reply.elements.size() % 2 != 0) {
    return Result::failure("emergency stop: unexpected reply");
  }
  std::map<std::string, ScriptValue> fields;
  for (std::size_t i = 0; i < reply.elements.size(); i += 2) {
    const auto name = reply.elements[i].toText();
    if (!name) return Result::failure("emergency stop: unexpected field");
    fields[*name] = reply.elements[i + 1];
  }
  const auto text = [&](const std::string& name) -> std::string {
    const auto it = fields.find(name);
    return it == fields.end() ? std::string() : it->second.toText().value_or("");
  };
  const auto time =
      [&](const std::string& name) -> std::optional<std::chrono::system_clock::time_point> {
    const auto it = fields.find(name);
    if (it == fields.end()) return std::nullopt;
    const auto ms = it->second.toInt();
    if (!ms) return std::nullopt;
    return fromUnixMillis(*ms);
  };
  EmergencyStopState state;
  state.active = text("active") == "1";
  state.reason = text("reason");
  state.since = time("since_ms").value_or(std::chrono::system_clock::time_point{});
  state.until = time("until_ms");
  state.source = text("source") == "auto" ? EmergencyStopSource::Auto : EmergencyStopSource::Manual;
  state.auto_suppressed_until = time("suppressed_until_ms");
  return Result::success(std::move(state));
}

std::vector<std::string> getEmergencyStopCommand(const StoreKeys& keys) {
  return {"HGETALL", keys.emergencyStop()};
}

std::vector<std::string> setEmergencyStopCommand(const StoreKeys& keys,
                                                 const EmergencyStopState& state) {
  std::vector<std::string> command = {"HSET", keys.emergencyStop()};
  for (auto& field : emergencyStopFields(state)) command.push_back(std::move(field));
  return command;
}

std::vector<std::string> replaceEmergencyStopCommand(const StoreKeys& keys,
                                                     const EmergencyStopState& expected,
                                                     const EmergencyStopState& next) {
  // A missing hash reads as the never-set state (active 0, since 0), as parseEmergencyStop does.
  static constexpr const char* kScript =
      R"(local held = redis.call('HMGET', KEYS[1], 'active', 'since_ms')
if (held[1] or '0') == ARGV[1] and (held[2] or '0') == ARGV[2] then
  redis.call('HSET', KEYS[1], unpack(ARGV, 3))
end
return redis.call('HGETALL', KEYS[1]))";
  std::vector<std::string> command = {"EVAL",
                                      kScript,
                                      "1",
                                      keys.emergencyStop(),
                                      expected.active ? "1" : "0",
                                      std::to_string(unixMillis(expected.since))};
  for (auto& field : emergencyStopFields(next)) command.push_back(std::move(field));
  return command;
}

std::vector<std::string> getSpendCommand(const StoreKeys& keys, const std::string& spend_key) {
  return {"GET", keys.counter(spend_key)};
}

StoreResult<Picodollars> parseSpend(const ScriptValue& reply) {
  using Result = StoreResult<Picodollars>;
  if (reply.type == ScriptValue::Type::Nil) return Result::success(0);
  const auto value = reply.toInt();
  if (!value) return Result::failure("spend: unexpected reply");
  return Result::success(*value);
}

}  // namespace spendgate::core
