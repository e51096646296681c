#include "proxy/relay/response_parser.hpp"

#include <algorithm>
#include <boost/beast/http/error.hpp>
#include <cstring>

namespace spendgate::proxy {

namespace http = boost::beast::http;

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
                                   boost::beast::error_code& ec) {
  parsedField(fields_, is_header_done(), trailer_bytes_, header_bytes_limit_, name,
              std::string_view(name_string.data(), name_string.size()),
              std::string_view(value.data(), value.size()), ec);
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
