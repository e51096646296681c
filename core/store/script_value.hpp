#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace spendgate::core {

/**
 * A Redis reply as core sees it (RESP2: nil, integer, bulk/status string, error, array), so the
 * script protocol can be parsed without hiredis. The proxy converts its RedisReply into this.
 */
struct ScriptValue {
  enum class Type { Nil, Integer, String, Error, Array };

  Type type = Type::Nil;
  std::int64_t integer = 0;
  std::string str;  // String text or Error message
  std::vector<ScriptValue> elements;

  static ScriptValue nil() { return {}; }
  static ScriptValue fromInteger(std::int64_t value) { return {Type::Integer, value, {}, {}}; }
  static ScriptValue fromString(std::string value) {
    return {Type::String, 0, std::move(value), {}};
  }
  static ScriptValue fromError(std::string message) {
    return {Type::Error, 0, std::move(message), {}};
  }
  static ScriptValue fromArray(std::vector<ScriptValue> items) {
    return {Type::Array, 0, {}, std::move(items)};
  }

  /**
   * @return an Integer, or a String holding a decimal integer (optional leading '-'); values
   * beyond int64 saturate. nullopt for anything else.
   */
  std::optional<std::int64_t> toInt() const;

  /** @return String text, or an Integer in decimal; nullopt for Nil, Error and Array. */
  std::optional<std::string> toText() const;
};

/** A script invocation: EVALSHA <sha> <keys.size()> keys... args... */
struct ScriptCall {
  std::vector<std::string> keys;
  std::vector<std::string> args;
};

/**
 * The batch form of admit.lua and settle.lua (`run` in their common block): ONE invocation that
 * runs every call of `calls` in turn, each exactly as its own invocation would (a failing one
 * answers its error, the others go on), and answers the array of their replies in order.
 * KEYS = every call's keys in order; ARGV = {"*", n, then per call: #keys, #args, its args...}.
 */
ScriptCall batchCall(std::vector<ScriptCall> calls);

}  // namespace spendgate::core
