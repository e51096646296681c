#include "core/store/script_value.hpp"

#include <limits>
#include <utility>

namespace spendgate::core {

std::optional<std::int64_t> ScriptValue::toInt() const {
  if (type == Type::Integer) return integer;
  if (type != Type::String || str.empty()) return std::nullopt;
  std::size_t i = 0;
  const bool negative = str[0] == '-';
  if (negative) i = 1;
  if (i == str.size()) return std::nullopt;
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  std::int64_t value = 0;
  for (; i < str.size(); ++i) {
    const char c = str[i];
    if (c < '0' || c > '9') return std::nullopt;
    const int digit = c - '0';
    // Saturate: Lua keeps exact sums beyond int64 (see the scripts' money helpers).
    value = value > (kMax - digit) / 10 ? kMax : value * 10 + digit;
  }
  return negative ? -value : value;
}

std::optional<std::string> ScriptValue::toText() const {
  if (type == Type::String) return str;
  if (type == Type::Integer) return std::to_string(integer);
  return std::nullopt;
}

ScriptCall batchCall(std::vector<ScriptCall> calls) {
  ScriptCall batch;
  std::size_t keys = 0;
  std::size_t args = 2;
  for (const ScriptCall& call : calls) {
    keys += call.keys.size();
    args += 2 + call.args.size();
  }
  batch.keys.reserve(keys);
  batch.args.reserve(args);
  batch.args.emplace_back("*");
  batch.args.push_back(std::to_string(calls.size()));
  for (ScriptCall& call : calls) {
    batch.args.push_back(std::to_string(call.keys.size()));
    batch.args.push_back(std::to_string(call.args.size()));
    for (std::string& key : call.keys) batch.keys.push_back(std::move(key));
    for (std::string& arg : call.args) batch.args.push_back(std::move(arg));
  }
  return batch;
}

}  // namespace spendgate::core
