#include "proxy/store/redis_reply.hpp"

#include <charconv>

namespace spendgate::proxy {

RedisReply RedisReply::nil() { return RedisReply{}; }

RedisReply RedisReply::fromInteger(long long value) {
  RedisReply reply;
  reply.type = Type::Integer;
  reply.integer = value;
  return reply;
}

RedisReply RedisReply::fromString(std::string value) {
  RedisReply reply;
  reply.type = Type::String;
  reply.str = std::move(value);
  return reply;
}

RedisReply RedisReply::fromStatus(std::string value) {
  RedisReply reply;
  reply.type = Type::Status;
  reply.str = std::move(value);
  return reply;
}

RedisReply RedisReply::fromError(std::string message) {
  RedisReply reply;
  reply.type = Type::Error;
  reply.str = std::move(message);
  return reply;
}

RedisReply RedisReply::fromArray(std::vector<RedisReply> elements) {
  RedisReply reply;
  reply.type = Type::Array;
  reply.elements = std::move(elements);
  return reply;
}

bool RedisReply::isErrorWithPrefix(std::string_view prefix) const {
  return type == Type::Error && std::string_view(str).substr(0, prefix.size()) == prefix;
}

std::optional<long long> RedisReply::asInteger() const {
  if (type == Type::Integer) return integer;
  if (type != Type::String && type != Type::Status) return std::nullopt;
  long long value = 0;
  const char* end = str.data() + str.size();
  auto [ptr, ec] = std::from_chars(str.data(), end, value);
  if (ec != std::errc{} || ptr != end || str.empty()) return std::nullopt;
  return value;
}

std::optional<std::string_view> RedisReply::asString() const {
  if (type == Type::String || type == Type::Status) return std::string_view(str);
  return std::nullopt;
}

std::string RedisReply::toString() const {
  switch (type) {
    case Type::Nil:
      return "(nil)";
    case Type::Integer:
      return "(integer) " + std::to_string(integer);
    case Type::String:
      return "\"" + str + "\"";
    case Type::Status:
      return str;
    case Type::Error:
      return "(error) " + str;
    case Type::Array: {
      std::string out = "[";
      for (std::size_t i = 0; i < elements.size(); ++i) {
        if (i != 0) out += ", ";
        out += elements[i].toString();
      }
      return out + "]";
    }
  }
  return {};
}

core::ScriptValue toScriptValue(const RedisReply& reply) {
  switch (reply.type) {
    case RedisReply::Type::Nil:
      return core::ScriptValue::nil();
    case RedisReply::Type::Integer:
      return core::ScriptValue::fromInteger(reply.integer);
    case RedisReply::Type::String:
    case RedisReply::Type::Status:
      return core::ScriptValue::fromString(reply.str);
    case RedisReply::Type::Error:
      return core::ScriptValue::fromError(reply.str);
    case RedisReply::Type::Array: {
      std::vector<core::ScriptValue> items;
      items.reserve(reply.elements.size());
      for (const RedisReply& element : reply.elements) items.push_back(toScriptValue(element));
      return core::ScriptValue::fromArray(std::move(items));
    }
  }
  return core::ScriptValue::nil();
}

}  // namespace spendgate::proxy
