#include "proxy/relay/request_parser.hpp"

#include <boost/beast/http/error.hpp>
#include <boost/beast/http/rfc7230.hpp>

namespace spendgate::proxy {

namespace http = boost::beast::http;

RequestParser::RequestParser(FlatFields& fields)
    : fields_(fields), target_(own_target_), body_(own_body_) {
  fields_.clear();
}

RequestParser::RequestParser(FlatFields& fields, std::string& target, std::string& body)
    : fields_(fields), target_(target), body_(body) {
  fields_.clear();
  target_.clear();
  body_.clear();
}

RequestParser::~RequestParser() {
  if (body_.capacity() > kKeptBodyCapacity) std::string().swap(body_);
}

std::string_view RequestParser::method_string() const {
  if (method_ != http::verb::unknown) {
    const auto known = http::to_string(method_);
    return std::string_view(known.data(), known.size());
  }
  return method_string_;
}

bool RequestParser::keepAlive() const {
  // The first Connection field decides, as basic_fields::get_keep_alive_impl reads it.
  for (const auto& field : fields_) {
    if (field.name() != http::field::connection) continue;
    http::token_list tokens{field.value()};  // exists() is not const
    return version_ < 11 ? tokens.exists("keep-alive") : !tokens.exists("close");
  }
  return version_ >= 11;
}

void RequestParser::on_request_impl(http::verb method,
                                    boost::beast::string_view method_string,
                                    boost::beast::string_view target,
                                    int version,
                                    boost::beast::error_code& ec) {
  // As http::parser: one message per parser.
  if (used_) {
    ec = http::error::stale_parser;
    return;
  }
  used_ = true;
  target_.assign(target.data(), target.size());
  method_ = method;
  if (method == http::verb::unknown)
    method_string_.assign(method_string.data(), method_string.size());
  version_ = static_cast<unsigned>(version);  // the parser reads two digits: 0..99
}

void RequestParser::on_field_impl(http::field name,
                                  boost::beast::string_view name_string,
                                  boost::beast::string_view value,
                                  boost::beast::error_code& ec) {
  parsedField(fields_, is_header_done(), trailer_bytes_, header_bytes_limit_, name,
              std::string_view(name_string.data(), name_string.size()),
              std::string_view(value.data(), value.size()), ec);
}

void RequestParser::on_body_init_impl(const boost::optional<std::uint64_t>& content_length,
                                      boost::beast::error_code& ec) {
  // string_body's reader: room for a declared length at once (the parser has already held it
  // against the body limit).
  if (content_length) {
    if (*content_length > body_.max_size()) {
      ec = http::error::buffer_overflow;
      return;
    }
    body_.reserve(static_cast<std::size_t>(*content_length));
  }
  ec = {};
}

std::size_t RequestParser::on_body_impl(boost::beast::string_view body,
                                        boost::beast::error_code& ec) {
  return appendBody(std::string_view(body.data(), body.size()), ec);
}

std::size_t RequestParser::on_chunk_body_impl(std::uint64_t,
                                              boost::beast::string_view body,
                                              boost::beast::error_code& ec) {
  return appendBody(std::string_view(body.data(), body.size()), ec);
}

std::size_t RequestParser::appendBody(std::string_view bytes, boost::beast::error_code& ec) {
  if (bytes.size() > body_.max_size() - body_.size()) {
    ec = http::error::buffer_overflow;
    return 0;
  }
  body_.append(bytes.data(), bytes.size());
  ec = {};
  return bytes.size();
}

}  // namespace spendgate::proxy
