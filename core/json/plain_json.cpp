#include "core/json/plain_json.hpp"

#include <boost/json/serialize.hpp>
#include <charconv>
#include <cmath>

namespace spendgate::core {

namespace {

void appendNumber(std::string& out, double number) {
  if (!std::isfinite(number)) {
    out += "null";
    return;
  }
  // Fixed notation without a precision is the shortest round trip; 1e308 needs 309 digits.
  char buffer[400];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, number, std::chars_format::fixed);
  if (ec != std::errc{}) {
    out += "null";
    return;
  }
  out.append(buffer, end);
}

void append(std::string& out, const boost::json::value& value) {
  switch (value.kind()) {
    case boost::json::kind::double_:
      appendNumber(out, value.get_double());
      return;
    case boost::json::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& element : value.get_array()) {
        if (!first) out += ',';
        first = false;
        append(out, element);
      }
      out += ']';
      return;
    }
    case boost::json::kind::object: {
      out += '{';
      bool first = true;
      for (const auto& member : value.get_object()) {
        if (!first) out += ',';
        first = false;
        out += boost::json::serialize(member.key());
        out += ':';
        append(out, member.value());
      }
      out += '}';
      return;
    }
    default:  // strings, integers, bools and null: Boost.JSON's spelling is already plain
      out += boost::json::serialize(value);
  }
}

}  // namespace

std::string plainNumber(double number) {
  std::string out;
  appendNumber(out, number);
  return out;
}

std::string serializePlain(const boost::json::value& value) {
  std::string out;
  append(out, value);
  return out;
}

}  // namespace spendgate::core
