#pragma once

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace spendgate::proxy {

/**
 * The fields of a parsed response head, in the order received, kept in one flat buffer: what the
 * relay needs of Beast's basic_fields (walking them in order), without what it costs per field
 * (an allocation, and an insert into a red-black tree and a list). Names and values are appended
 * to one string and an entry to one vector, which keep their capacity when cleared: a head parsed
 * into the same FlatFields as the one before allocates nothing.
 */
class FlatFields {
public:
  /** One field, read as Beast's basic_fields::value_type is. */
  class Field {
  public:
    Field(boost::beast::http::field name, std::string_view name_string, std::string_view value)
        : name_(name), name_string_(name_string), value_(value) {}
    boost::beast::http::field name() const { return name_; }
    std::string_view name_string() const { return name_string_; }
    std::string_view value() const { return value_; }

  private:
    boost::beast::http::field name_;
    std::string_view name_string_;
    std::string_view value_;
  };

private:
  struct Entry {
    boost::beast::http::field name;
    std::size_t name_at;
    std::size_t name_size;
    std::size_t value_at;
    std::size_t value_size;
  };

public:
  class const_iterator {
  public:
    const_iterator(const FlatFields& fields, std::size_t index) : fields_(&fields), index_(index) {}
    Field operator*() const { return fields_->at(index_); }
    const_iterator& operator++() {
      ++index_;
      return *this;
    }
    bool operator==(const const_iterator& other) const { return index_ == other.index_; }

  private:
    const FlatFields* fields_;
    std::size_t index_;
  };

  /** Forgets every field; the storage keeps its capacity. */
  void clear();
  /**
   * Appends a field as basic_fields::insert stores it: the value without leading and trailing
   * blanks, and std::length_error for a name or value Beast's element could not hold.
   */
  void add(boost::beast::http::field name, std::string_view name_string, std::string_view value);

  std::size_t size() const { return entries_.size(); }
  Field at(std::size_t index) const {
    const Entry& e = entries_[index];
    const char* text = text_.get();
    return Field(e.name, std::string_view(text + e.name_at, e.name_size),
                 std::string_view(text + e.value_at, e.value_size));
  }
  const_iterator begin() const { return {*this, 0}; }
  const_iterator end() const { return {*this, entries_.size()}; }

private:
  /** Makes room for `more` bytes of text after the first text_size_. */
  void grow(std::size_t more);

  // Names and values back to back; a plain buffer rather than a std::string, whose resize
  // would fill what is about to be copied over.
  std::unique_ptr<char[]> text_;
  std::size_t text_size_ = 0;
  std::size_t text_capacity_ = 0;
  std::vector<Entry> entries_;
};

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
  unsigned status_ = 0;
  std::string reason_;
  bool used_ = false;
  Body body_;
};

}  // namespace spendgate::proxy
