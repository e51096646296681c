#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/store/script_value.hpp"

namespace spendgate::proxy {

/**
 * One decoded RESP2 reply, owned (hiredis frees its own reply object as soon as the callback
 * returns, so the client copies it into this). A Redis error reply (`-ERR ...`) is a normal reply
 * of type Error, not a transport failure: RedisClient reports it with an empty error_code.
 */
struct RedisReply {
  enum class Type { Nil, Integer, String, Status, Error, Array };

  Type type = Type::Nil;
  long long integer = 0;
  /** Bulk string, status text or error message (binary-safe). */
  std::string str;
  std::vector<RedisReply> elements;

  static RedisReply nil();
  static RedisReply fromInteger(long long value);
  static RedisReply fromString(std::string value);
  static RedisReply fromStatus(std::string value);
  static RedisReply fromError(std::string message);
  static RedisReply fromArray(std::vector<RedisReply> elements);

  bool isNil() const { return type == Type::Nil; }
  bool isInteger() const { return type == Type::Integer; }
  bool isString() const { return type == Type::String; }
  bool isStatus() const { return type == Type::Status; }
  bool isError() const { return type == Type::Error; }
  bool isArray() const { return type == Type::Array; }

  /** True for an Error reply whose message starts with `prefix` (e.g. "NOSCRIPT", "WRONGTYPE"). */
  bool isErrorWithPrefix(std::string_view prefix) const;

  /**
   * @return the value of an Integer reply, or of a String/Status reply that is exactly a
   * decimal 64-bit integer (what GET returns for a counter); otherwise nullopt.
   */
  std::optional<long long> asInteger() const;

  /** @return the text of a String or Status reply; nullopt for every other type. */
  std::optional<std::string_view> asString() const;

  /** Short human-readable rendering for logs and test failure messages. */
  std::string toString() const;

  friend bool operator==(const RedisReply&, const RedisReply&) = default;
};

/** @return the reply as core's script value (what core/store's parse() functions read). */
core::ScriptValue toScriptValue(const RedisReply& reply);

}  // namespace spendgate::proxy
