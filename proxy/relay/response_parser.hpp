#pragma once

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/relay/flat_fields.hpp"

namespace spendgate::proxy {

/**
 * Reads an upstream's response: Beast's basic_parser does all the parsing (the status line,
 * fields, Content-Length / Transfer-Encoding framing, limits), as with
 * http::response_parser<http::buffer_body>; only what it hands over is kept differently: the
 * fields in a FlatFields the caller owns (kept per connection, so its capacity carries over to the
 * next answer), the status and reason here, and the body written where body().data points, as
 * buffer_body's reader writes it (error::need_buffer when there is no room left).
 */
class ResponseParser : public boost::beast::http::basic_parser<false> {
public:
  using Body = boost::beast::http::buffer_body::value_type;

  /** Parses into `fields`, which it clears; `fields` must outlive the parser. */
  explicit ResponseParser(FlatFields& fields);

  /**
   * basic_parser's header limit, which here bounds a chunked body's trailer section too: its
   * fields are not kept (never merged into the head), and a section larger than the limit is
   * http::error::header_limit, as a head is (Beast sets no limit on trailers).
   */
  void header_limit(std::uint32_t limit) {
    boost::beast::http::basic_parser<false>::header_limit(limit);
    header_bytes_limit_ = limit;
  }

  unsigned result_int() const { return status_; }
  boost::beast::http::status result() const { return boost::beast::http::int_to_status(status_); }
  /** The reason phrase as received, else the standard one (as Beast's header::reason()). */
  std::string_view reason() const {
    if (!reason_.empty()) return reason_;
    const auto standard =
        boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(status_));
    return std::string_view(standard.data(), standard.size());
  }
  const FlatFields& fields() const { return fields_; }
  Body& body() { return body_; }

private:
  void on_request_impl(boost::beast::http::verb,
                       boost::beast::string_view,
                       boost::beast::string_view,
                       int,
                       boost::beast::error_code&) override {}
  void on_response_impl(int code,
                        boost::beast::string_view reason,
                        int version,
                        boost::beast::error_code& ec) override;
  void on_field_impl(boost::beast::http::field name,
                     boost::beast::string_view name_string,
                     boost::beast::string_view value,
                     boost::beast::error_code& ec) override;
  void on_header_impl(boost::beast::error_code& ec) override { ec = {}; }
  void on_body_init_impl(const boost::optional<std::uint64_t>&,
                         boost::beast::error_code& ec) override {
    ec = {};
  }
  std::size_t on_body_impl(boost::beast::string_view body, boost::beast::error_code& ec) override;
  void on_chunk_header_impl(std::uint64_t,
                            boost::beast::string_view,
                            boost::beast::error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t,
                                 boost::beast::string_view body,
                                 boost::beast::error_code& ec) override;
  void on_finish_impl(boost::beast::error_code& ec) override { ec = {}; }

  /** buffer_body's reader: copies what fits at body_.data. */
  std::size_t copyBody(std::string_view bytes, boost::beast::error_code& ec);

  FlatFields& fields_;
  std::uint32_t header_bytes_limit_ = 8192;  // basic_parser's default
  std::size_t trailer_bytes_ = 0;            // of the trailer section read so far
  unsigned status_ = 0;
  std::string reason_;
  bool used_ = false;
  Body body_;
};

}  // namespace spendgate::proxy
