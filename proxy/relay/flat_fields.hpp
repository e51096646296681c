#pragma once

#include <boost/beast/core/error.hpp>
#include <boost/beast/http/field.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

namespace spendgate::proxy {

/**
 * The fields of a parsed head, in the order received, kept in one flat buffer: what the proxy
 * needs of Beast's basic_fields (walking them in order, a few look-ups and edits), without what
 * it costs per field (an allocation, and an insert into a red-black tree and a list). Names and
 * values are appended to one buffer and an entry to one vector, which keep their capacity when
 * cleared: a head parsed into the same FlatFields as the one before allocates nothing.
 *
 * One difference from basic_fields: a repeated name stays where it came (basic_fields moves it
 * next to the first field of that name). Fields of one name keep their order either way, and the
 * order of different names carries no meaning (RFC 9110 §5.3).
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

  /** Whether add() can hold a field with a name and value of these sizes (else it throws). */
  static bool holds(std::size_t name_size, std::size_t value_size);

  /** The value of the first field named `name`, "" if none (basic_fields::operator[]). */
  std::string_view operator[](boost::beast::http::field name) const;
  /** Removes every field named `name` (basic_fields::erase). @return how many */
  std::size_t erase(boost::beast::http::field name);
  /** Removes every field with this name, in any case (basic_fields::erase). @return how many */
  std::size_t erase(std::string_view name);
  /**
   * Replaces every field named `name` with one at the end, as basic_fields::set does: the known
   * name spelled as Beast spells it, another as given.
   */
  void set(boost::beast::http::field name, std::string_view value);
  void set(std::string_view name, std::string_view value);

  std::size_t size() const { return entries_.size(); }
  /** The bytes of every name and value together (an erased field's too): at most that. */
  std::size_t textSize() const { return text_size_; }
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
  // would fill what is about to be copied over. An erased field's text stays until clear().
  std::unique_ptr<char[]> text_;
  std::size_t text_size_ = 0;
  std::size_t text_capacity_ = 0;
  std::vector<Entry> entries_;
};

/**
 * What a parser's on_field_impl does with a field, without throwing (it runs inside Beast's
 * composed read operations, where an exception would escape to io_context::run): a field of the
 * head is added to `fields`, one FlatFields cannot hold (only reachable with a header limit above
 * 64 KiB) is http::error::header_limit, as is memory running out; a field of a chunked body's
 * trailer section (`in_trailer`) is not kept (trailers are never merged into the head a peer
 * gets, RFC 9110 §6.5.1), only counted into `trailer_bytes`, and the section is
 * http::error::header_limit once it passes `limit` (the header limit).
 */
void parsedField(FlatFields& fields,
                 bool in_trailer,
                 std::size_t& trailer_bytes,
                 std::uint64_t limit,
                 boost::beast::http::field name,
                 std::string_view name_string,
                 std::string_view value,
                 boost::beast::error_code& ec) noexcept;

}  // namespace spendgate::proxy
