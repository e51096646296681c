#include "core/ledger/ledger_line_parser.hpp"

#include <boost/json/array.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/object.hpp>
#include <boost/json/string.hpp>
#include <cstdint>
#include <string>

#include "core/pricing/money.hpp"
#include "core/usage/json_key_assembler.hpp"

namespace spendgate::core {

namespace {

enum class Field : std::uint8_t {
  None,
  Ts,
  Cost,
  Stream,
  LatencyMs,
  UpstreamMs,
  String,  // one of the entry's string members: `string_` says which
  Int,     // one of the entry's integer members: `int_` says which
};

/** Picks the members of a ledger line out of basic_parser's events (depth 1 only). */
class LineHandler {
public:
  static constexpr std::size_t max_object_size = boost::json::object::max_size();
  static constexpr std::size_t max_array_size = boost::json::array::max_size();
  static constexpr std::size_t max_key_size = boost::json::string::max_size();
  static constexpr std::size_t max_string_size = boost::json::string::max_size();

  LedgerEntry entry;
  bool is_object = false;
  bool has_ts = false;
  bool has_cost = false;

  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }
  bool on_object_begin(boost::system::error_code&) {
    if (depth_ == 0) is_object = true;
    ++depth_;
    pending_ = Field::None;  // a member whose value is an object: wrong type
    return true;
  }
  bool on_object_end(std::size_t, boost::system::error_code&) {
    --depth_;
    return true;
  }
  bool on_array_begin(boost::system::error_code&) {
    ++depth_;
    pending_ = Field::None;
    return true;
  }
  bool on_array_end(std::size_t, boost::system::error_code&) {
    --depth_;
    return true;
  }
  bool on_key_part(std::string_view part, std::size_t, boost::system::error_code&) {
    key_.part(part);
    return true;
  }
  bool on_key(std::string_view last, std::size_t, boost::system::error_code&) {
    const std::string_view key = key_.finish(last);
    status_ = false;
    pending_ = depth_ == 1 ? fieldOf(key) : Field::None;
    text_.clear();
    return true;
  }
  bool on_string_part(std::string_view part, std::size_t, boost::system::error_code&) {
    if (pending_ != Field::None) text_.append(part);
    return true;
  }
  bool on_string(std::string_view last, std::size_t, boost::system::error_code&) {
    if (pending_ == Field::String) {
      string_->assign(text_).append(last);
    } else if (pending_ == Field::Ts) {
      text_.append(last);
      if (auto ts = parseRfc3339(text_)) {
        entry.ts = *ts;
        has_ts = true;
      } else {
        has_ts = false;
      }
    } else if (pending_ == Field::Cost) {
      has_cost = false;  // a string is not a number
    }
    pending_ = Field::None;
    return true;
  }
  bool on_number_part(std::string_view part, boost::system::error_code&) {
    if (pending_ != Field::None) text_.append(part);
    return true;
  }
  bool on_int64(std::int64_t value, std::string_view last, boost::system::error_code&) {
    return number(static_cast<double>(value), value, true, last);
  }
  bool on_uint64(std::uint64_t value, std::string_view last, boost::system::error_code&) {
    return number(static_cast<double>(value), 0, false, last);
  }
  bool on_double(double value, std::string_view last, boost::system::error_code&) {
    return number(value, 0, false, last);
  }
  bool on_bool(bool value, boost::system::error_code&) {
    if (pending_ == Field::Stream) entry.stream = value;
    if (pending_ == Field::Cost || pending_ == Field::Ts) clearRequired();
    pending_ = Field::None;
    return true;
  }
  bool on_null(boost::system::error_code&) {
    if (pending_ == Field::Cost || pending_ == Field::Ts) clearRequired();
    pending_ = Field::None;
    return true;
  }
  bool on_comment_part(std::string_view, boost::system::error_code&) { return true; }
  bool on_comment(std::string_view, boost::system::error_code&) { return true; }

private:
  Field fieldOf(std::string_view key) {
    if (keyIs(key, "ts")) return Field::Ts;
    if (keyIs(key, "cost_usd")) return Field::Cost;
    if (keyIs(key, "stream")) return Field::Stream;
    if (keyIs(key, "latency_ms")) return Field::LatencyMs;
    if (keyIs(key, "upstream_ms")) return Field::UpstreamMs;
    struct Named {
      std::string_view name;
      std::string LedgerEntry::*member;
    };
    static constexpr Named kStrings[] = {
        {"request_id", &LedgerEntry::request_id},
        {"provider", &LedgerEntry::provider},
        {"model", &LedgerEntry::model},
        {"requested_model", &LedgerEntry::requested_model},
        {"key", &LedgerEntry::key},
        {"user", &LedgerEntry::user},
        {"team", &LedgerEntry::team},
        {"customer", &LedgerEntry::customer},
        {"agent", &LedgerEntry::agent},
        {"price_source", &LedgerEntry::price_source},
        {"usage_source", &LedgerEntry::usage_source},
    };
    for (const Named& named : kStrings) {
      if (key == named.name) {
        string_ = &(entry.*named.member);
        return Field::String;
      }
    }
    struct NamedInt {
      std::string_view name;
      std::int64_t LedgerEntry::*member;
    };
    static constexpr NamedInt kInts[] = {
        {"input_tokens", &LedgerEntry::input_tokens},
        {"cached_input_tokens", &LedgerEntry::cached_input_tokens},
        {"cache_write_tokens", &LedgerEntry::cache_write_tokens},
        {"output_tokens", &LedgerEntry::output_tokens},
        {"reasoning_tokens", &LedgerEntry::reasoning_tokens},
    };
    for (const NamedInt& named : kInts) {
      if (key == named.name) {
        int_ = &(entry.*named.member);
        return Field::Int;
      }
    }
    if (keyIs(key, "status")) {
      status_ = true;
      return Field::Int;
    }
    return Field::None;
  }

  void clearRequired() {
    if (pending_ == Field::Cost) has_cost = false;
    if (pending_ == Field::Ts) has_ts = false;
  }

  bool number(double value, std::int64_t integer, bool is_int64, std::string_view last) {
    switch (pending_) {
      case Field::Cost: {
        text_.append(last);
        const auto cost = parseUsd(text_);
        has_cost = cost.has_value();
        if (cost) entry.cost_picousd = *cost;
        break;
      }
      case Field::LatencyMs:
        entry.latency_ms = value;
        break;
      case Field::UpstreamMs:
        entry.upstream_ms = value;
        break;
      case Field::Int:
        if (is_int64) {
          if (status_) {
            entry.status = static_cast<int>(integer);
          } else {
            *int_ = integer;
          }
        }
        break;
      case Field::Ts:
        has_ts = false;
        break;
      default:
        break;
    }
    pending_ = Field::None;
    status_ = false;
    return true;
  }

  std::size_t depth_ = 0;
  Field pending_ = Field::None;
  std::string* string_ = nullptr;
  std::int64_t* int_ = nullptr;
  bool status_ = false;
  std::string text_;  // the pending value's text so far (strings and numbers in pieces)
  JsonKeyAssembler key_;
};

}  // namespace

std::optional<LedgerEntry> parseLedgerLine(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  try {
    boost::json::basic_parser<LineHandler> parser(boost::json::parse_options{});
    boost::system::error_code ec;
    const std::size_t used = parser.write_some(false, line.data(), line.size(), ec);
    if (ec || used != line.size()) return std::nullopt;
    LineHandler& handler = parser.handler();
    if (!handler.is_object || !handler.has_ts || !handler.has_cost) return std::nullopt;
    return std::move(handler.entry);
  } catch (...) {  // allocation failure: the line is skipped like a malformed one
    return std::nullopt;
  }
}

}  // namespace spendgate::core
