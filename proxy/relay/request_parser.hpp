#pragma once

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/verb.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/relay/flat_fields.hpp"

namespace spendgate::proxy {

/**
 * Reads a client's request: Beast's basic_parser does all the parsing (the request line, fields,
 * Content-Length / Transfer-Encoding framing, header and body limits), as with
 * http::request_parser<http::string_body>; only what it hands over is kept differently: the
 * fields in a FlatFields the caller owns (kept per connection, so its capacity carries over to the
 * next request), the request line here, and the body in a string, as string_body's reader
 * writes it. Reads as Beast's request message does (method(), target(), version(), body()), so
 * the request path treats both alike.
 */
class RequestParser : public boost::beast::http::basic_parser<true> {
public:
  /** Parses into `fields`, which it clears; `fields` must outlive the parser. */
  explicit RequestParser(FlatFields& fields);
  /**
   * The same, with the target and the body in strings the caller keeps (per connection, like
   * `fields`), which it clears: their capacity carries over to the next request, so a request no
   * larger than the one before allocates nothing for them. A body whose capacity is over
   * kKeptBodyCapacity is let go when the parser ends, so an idle connection keeps no large one.
   */
  RequestParser(FlatFields& fields, std::string& target, std::string& body);
  ~RequestParser();

  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  /** The most body capacity kept for the next request (see above). */
  static constexpr std::size_t kKeptBodyCapacity = 16 * 1024;

  /**
   * basic_parser's header limit, which here bounds a chunked body's trailer section too: its
   * fields are not kept (never merged into the head), and a section larger than the limit is
   * http::error::header_limit, as a head is (Beast sets no limit on trailers).
   */
  void header_limit(std::uint32_t limit) {
    boost::beast::http::basic_parser<true>::header_limit(limit);
    header_bytes_limit_ = limit;
  }

  boost::beast::http::verb method() const { return method_; }
  /** The method as received: Beast's spelling of a known one, else the text (as header's). */
  std::string_view method_string() const;
  std::string_view target() const { return target_; }
  /** Replaces the target (an absolute-form one rewritten to origin form). */
  void target(std::string_view target) { target_.assign(target.data(), target.size()); }
  unsigned version() const { return version_; }
  const FlatFields& fields() const { return fields_; }
  FlatFields& fields() { return fields_; }
  std::string& body() { return body_; }
  const std::string& body() const { return body_; }

  /**
   * Whether the client asked to keep the connection, as Beast's message::keep_alive() reads it:
   * the first Connection field (HTTP/1.1: not "close"; HTTP/1.0: "keep-alive"). Not the base's
   * keep_alive(), which also reads Proxy-Connection and every Connection field.
   */
  bool keepAlive() const;

private:
  void on_request_impl(boost::beast::http::verb method,
                       boost::beast::string_view method_string,
                       boost::beast::string_view target,
                       int version,
                       boost::beast::error_code& ec) override;
  void on_response_impl(int, boost::beast::string_view, int, boost::beast::error_code&) override {}
  void on_field_impl(boost::beast::http::field name,
                     boost::beast::string_view name_string,
                     boost::beast::string_view value,
                     boost::beast::error_code& ec) override;
  void on_header_impl(boost::beast::error_code& ec) override { ec = {}; }
  void on_body_init_impl(const boost::optional<std::uint64_t>& content_length,
                         boost::beast::error_code& ec) override;
  std::size_t on_body_impl(boost::beast::string_view body, boost::beast::error_code& ec) override;
  void on_chunk_header_impl(std::uint64_t,
                            boost::beast::string_view,
                            boost::beast::error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t,
                                 boost::beast::string_view body,
                                 boost::beast::error_code& ec) override;
  void on_finish_impl(boost::beast::error_code& ec) override { ec = {}; }

  /** string_body's reader: appends to body_. */
  std::size_t appendBody(std::string_view bytes, boost::beast::error_code& ec);

  FlatFields& fields_;
  std::uint32_t header_bytes_limit_ = 8192;  // basic_parser's default
  std::size_t trailer_bytes_ = 0;            // of the trailer section read so far
  boost::beast::http::verb method_ = boost::beast::http::verb::unknown;
  std::string method_string_;          // only for a method Beast does not know
  std::string own_target_, own_body_;  // unless the caller keeps them
  std::string& target_;
  unsigned version_ = 11;
  bool used_ = false;
  std::string& body_;
};

}  // namespace spendgate::proxy
