#include "proxy/relay/wire_format.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/status.hpp>
#include <charconv>

namespace spendgate::proxy {

namespace http = boost::beast::http;

namespace {

void appendFields(std::string& out, const http::fields& fields) {
  for (const auto& field : fields) appendHeaderLine(out, field.name_string(), field.value());
}

}  // namespace

void appendRequestHead(std::string& out, const http::request_header<>& head) {
  out.append(head.method_string());
  out += ' ';
  out.append(head.target());
  out += " HTTP/1.1\r\n";
  appendFields(out, head);
  out += "\r\n";
}

void appendResponseHead(std::string& out,
                        const http::response_header<>& head,
                        std::string_view extra) {
  char status[16];
  const auto end = std::to_chars(status, status + sizeof status, head.result_int()).ptr;
  out += "HTTP/1.1 ";
  out.append(status, end);
  out += ' ';
  const auto reason = head.reason();
  out.append(reason.empty() ? http::obsolete_reason(head.result()) : reason);
  out += "\r\n";
  appendFields(out, head);
  out.append(extra);
  out += "\r\n";
}

void appendHeaderLine(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out += ": ";
  out.append(value);
  out += "\r\n";
}

void eraseFieldsNamed(http::fields& fields, std::span<const std::string_view> names) {
  for (auto it = fields.begin(); it != fields.end();) {
    const std::string_view name = it->name_string();
    bool matches = false;
    for (const auto wanted : names) {
      if (boost::beast::iequals(name, wanted)) {
        matches = true;
        break;
      }
    }
    it = matches ? fields.erase(it) : std::next(it);
  }
}

void appendChunkSize(std::string& out, std::size_t size) {
  static constexpr char kHex[] = "0123456789abcdef";
  char digits[16];
  int count = 0;
  do {
    digits[count++] = kHex[size & 0xf];
    size >>= 4;
  } while (size != 0);
  while (count > 0) out += digits[--count];
  out += "\r\n";
}

}  // namespace spendgate::proxy
