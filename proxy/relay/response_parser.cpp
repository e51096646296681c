#include "proxy/relay/response_parser.hpp"

#include <algorithm>
#include <boost/beast/http/error.hpp>
#include <cstring>
#include <limits>
#include <stdexcept>

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

void FlatFields::add(http::field name, std::string_view name_string, std::string_view value) {
  // The same refusals as basic_fields::new_element, so an absurd field fails the same way.
  if (name_string.size() + 2 > kMaxElementPart) throw std::length_error{"field name too large"};
  if (value.size() + 2 > kMaxElementPart) throw std::length_error{"field value too large"};
  value = trimmed(value);
  const std::size_t at = text_size_;
  const std::size_t size = name_string.size() + value.size();
  if (size > 0) {
    if (text_capacity_ - at < size) grow(size);
    char* p = text_.get() + at;
    std::memcpy(p, name_string.data(), name_string.size());
    std::memcpy(p + name_string.size(), value.data(), value.size());
    text_size_ = at + size;
  }
  entries_.push_back(Entry{name, at, name_string.size(), at + name_string.size(), value.size()});
}

ResponseParser::ResponseParser(FlatFields& fields) : fields_(fields) { fields_.clear(); }

void ResponseParser::on_response_impl(int code,
                                      boost::beast::string_view reason,
                                      int,
                                      boost::beast::error_code& ec) {
  // As http::parser: one message per parser.
  if (used_) {
    ec = http::error::stale_parser;
    return;
  }
  used_ = true;
  status_ = static_cast<unsigned>(code);  // the parser reads three digits: 0..999
  reason_.assign(reason.data(), reason.size());
}

void ResponseParser::on_field_impl(http::field name,
                                   boost::beast::string_view name_string,
                                   boost::beast::string_view value,
                                   boost::beast::error_code&) {
  fields_.add(name, std::string_view(name_string.data(), name_string.size()),
              std::string_view(value.data(), value.size()));
}

std::size_t ResponseParser::on_body_impl(boost::beast::string_view body,
                                         boost::beast::error_code& ec) {
  return copyBody(std::string_view(body.data(), body.size()), ec);
}

std::size_t ResponseParser::on_chunk_body_impl(std::uint64_t,
                                               boost::beast::string_view body,
                                               boost::beast::error_code& ec) {
  return copyBody(std::string_view(body.data(), body.size()), ec);
}

std::size_t ResponseParser::copyBody(std::string_view bytes, boost::beast::error_code& ec) {
  if (body_.data == nullptr) {
    ec = http::error::need_buffer;
    return 0;
  }
  const std::size_t n = std::min(body_.size, bytes.size());
  if (n > 0) std::memcpy(body_.data, bytes.data(), n);
  body_.data = static_cast<char*>(body_.data) + n;
  body_.size -= n;
  if (n == bytes.size()) {
    ec = {};
  } else {
    ec = http::error::need_buffer;
  }
  return n;
}

}  // namespace spendgate::proxy
