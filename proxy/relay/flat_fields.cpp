#include "proxy/relay/flat_fields.hpp"

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "core/text/short_copy.hpp"

namespace spendgate::proxy {

namespace http = boost::beast::http;

namespace {

/** Without leading and trailing SP / HTAB, as Beast's detail::trim (basic_fields stores that). */
std::string_view trimmed(std::string_view value) {
  const auto blank = [](char c) { return c == ' ' || c == '\t'; };
  while (!value.empty() && blank(value.front())) value.remove_prefix(1);
  while (!value.empty() && blank(value.back())) value.remove_suffix(1);
  return value;
}

/** What a basic_fields element can hold (its offsets are 16 bits, two more bytes each). */
constexpr std::size_t kMaxElementPart = std::numeric_limits<std::uint16_t>::max();

}  // namespace

void FlatFields::clear() {
  text_size_ = 0;
  entries_.clear();
}

void FlatFields::grow(std::size_t more) {
  const std::size_t capacity = std::max({text_capacity_ * 2, text_size_ + more, std::size_t{512}});
  auto text = std::make_unique_for_overwrite<char[]>(capacity);
  if (text_size_ > 0) std::memcpy(text.get(), text_.get(), text_size_);
  text_ = std::move(text);
  text_capacity_ = capacity;
}

bool FlatFields::holds(std::size_t name_size, std::size_t value_size) {
  return name_size + 2 <= kMaxElementPart && value_size + 2 <= kMaxElementPart;
}

void FlatFields::add(http::field name, std::string_view name_string, std::string_view value) {
  // The same refusals as basic_fields::new_element, so an absurd field fails the same way.
  if (name_string.size() + 2 > kMaxElementPart) throw std::length_error{"field name too large"};
  if (value.size() + 2 > kMaxElementPart) throw std::length_error{"field value too large"};
  value = trimmed(value);
  const std::size_t at = text_size_;
  const std::size_t size = name_string.size() + value.size();
  if (size > 0) {
    if (text_capacity_ - at < size) grow(size);
    // Names and values are mostly short: copied without calls into libc.
    char* p = text_.get() + at;
    core::copyShort(p, name_string.data(), name_string.size());
    core::copyShort(p + name_string.size(), value.data(), value.size());
    text_size_ = at + size;
  }
  entries_.push_back(Entry{name, at, name_string.size(), at + name_string.size(), value.size()});
}

std::string_view FlatFields::operator[](http::field name) const {
  for (const Entry& e : entries_) {
    if (e.name == name) return {text_.get() + e.value_at, e.value_size};
  }
  return {};
}

std::size_t FlatFields::erase(http::field name) {
  const auto removed = std::erase_if(entries_, [name](const Entry& e) { return e.name == name; });
  return static_cast<std::size_t>(removed);
}

std::size_t FlatFields::erase(std::string_view name) {
  const char* text = text_.get();
  const auto removed = std::erase_if(entries_, [name, text](const Entry& e) {
    return boost::beast::iequals(std::string_view(text + e.name_at, e.name_size), name);
  });
  return static_cast<std::size_t>(removed);
}

void FlatFields::set(http::field name, std::string_view value) {
  erase(name);
  const auto spelled = http::to_string(name);
  add(name, std::string_view(spelled.data(), spelled.size()), value);
}

void FlatFields::set(std::string_view name, std::string_view value) {
  erase(name);
  add(http::string_to_field(name), name, value);
}

void parsedField(FlatFields& fields,
                 bool in_trailer,
                 std::size_t& trailer_bytes,
                 std::uint64_t limit,
                 http::field name,
                 std::string_view name_string,
                 std::string_view value,
                 boost::beast::error_code& ec) noexcept {
  ec = {};
  if (in_trailer) {
    // As the field's line: name, ": ", value, CRLF.
    trailer_bytes += name_string.size() + value.size() + 4;
    if (trailer_bytes > limit) ec = http::error::header_limit;
    return;
  }
  if (!FlatFields::holds(name_string.size(), value.size())) {
    ec = http::error::header_limit;
    return;
  }
  try {
    fields.add(name, name_string, value);
  } catch (const std::exception&) {
    ec = http::error::header_limit;  // out of memory
  }
}

}  // namespace spendgate::proxy
