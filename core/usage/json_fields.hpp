#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

// Small read-only accessors over Boost.JSON values for the usage parsers: missing keys, nulls and
// wrong types read as "absent", never as an exception.
namespace spendgate::core::json_fields {

/** Counts above this are treated as garbage (no single request reports a billion tokens). */
inline constexpr std::int64_t kMaxSaneCount = 1'000'000'000;

inline const boost::json::object* asObject(const boost::json::value* v) {
  return v != nullptr ? v->if_object() : nullptr;
}

inline const boost::json::value* member(const boost::json::object* o, std::string_view key) {
  if (o == nullptr) return nullptr;
  return o->if_contains(key);
}

inline const boost::json::object* objectMember(const boost::json::object* o, std::string_view key) {
  return asObject(member(o, key));
}

inline const boost::json::array* arrayMember(const boost::json::object* o, std::string_view key) {
  const auto* v = member(o, key);
  return v != nullptr ? v->if_array() : nullptr;
}

/** @return the string at `key`, or "" when absent or not a string. */
inline std::string_view stringMember(const boost::json::object* o, std::string_view key) {
  const auto* v = member(o, key);
  if (v == nullptr) return {};
  if (const auto* s = v->if_string()) return std::string_view(s->data(), s->size());
  return {};
}

/** @return the bool at `key`, or nullopt when absent or not a bool. */
inline std::optional<bool> boolMember(const boost::json::object* o, std::string_view key) {
  const auto* v = member(o, key);
  if (v == nullptr) return std::nullopt;
  if (const auto* b = v->if_bool()) return *b;
  return std::nullopt;
}

/**
 * One member as a counter sees it, taken from a document or from a streaming (SAX) scan: both
 * paths then apply the same rules.
 */
struct CountValue {
  enum class Kind : std::uint8_t { Absent, Null, Int64, Uint64, Double, Other };
  Kind kind = Kind::Absent;
  std::int64_t i = 0;
  std::uint64_t u = 0;
  double d = 0;

  static CountValue of(const boost::json::value* v) {
    CountValue c;
    if (v == nullptr) return c;
    if (v->is_null()) {
      c.kind = Kind::Null;
    } else if (const auto* i = v->if_int64()) {
      c.kind = Kind::Int64;
      c.i = *i;
    } else if (const auto* u = v->if_uint64()) {
      c.kind = Kind::Uint64;
      c.u = *u;
    } else if (const auto* d = v->if_double()) {
      c.kind = Kind::Double;
      c.d = *d;
    } else {
      c.kind = Kind::Other;
    }
    return c;
  }

  /** @return the value if it is a JSON number that is an exact integer fitting int64. */
  std::optional<std::int64_t> integer() const {
    switch (kind) {
      case Kind::Int64:
        return i;
      case Kind::Uint64:
        if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
          return std::nullopt;
        }
        return static_cast<std::int64_t>(u);
      case Kind::Double:
        if (std::isfinite(d) && std::trunc(d) == d && std::fabs(d) < 9.0e18) {
          return static_cast<std::int64_t>(d);
        }
        return std::nullopt;
      default:
        return std::nullopt;
    }
  }
};

/** @return any JSON number at `key` that is an exact integer fitting int64, else nullopt. */
inline std::optional<std::int64_t> integerMember(const boost::json::object* o,
                                                 std::string_view key) {
  return CountValue::of(member(o, key)).integer();
}

/**
 * Reads token counters and remembers whether any was garbage: not an integer, negative, or
 * above kMaxSaneCount. A garbage counter reads as absent and sets absurd().
 */
class CountReader {
public:
  /** @return the counter, or nullopt when absent/null (and when garbage, flagging absurd()). */
  std::optional<std::int64_t> read(const boost::json::object* o, std::string_view key) {
    return read(CountValue::of(member(o, key)));
  }

  /** The same for a member read without a document. */
  std::optional<std::int64_t> read(const CountValue& v) {
    if (v.kind == CountValue::Kind::Absent || v.kind == CountValue::Kind::Null) {
      return std::nullopt;
    }
    const auto n = v.integer();
    if (!n || *n < 0 || *n > kMaxSaneCount) {
      absurd_ = true;
      return std::nullopt;
    }
    return n;
  }

  /** @return read(o, key) or 0. */
  std::int64_t readOr0(const boost::json::object* o, std::string_view key) {
    return read(o, key).value_or(0);
  }
  std::int64_t readOr0(const CountValue& v) { return read(v).value_or(0); }

  bool absurd() const { return absurd_; }
  void flagAbsurd() { absurd_ = true; }

private:
  bool absurd_ = false;
};

}  // namespace spendgate::core::json_fields
