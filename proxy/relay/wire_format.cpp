#include "proxy/relay/wire_format.hpp"

#include <boost/beast/http/status.hpp>

namespace spendgate::proxy {

namespace http = boost::beast::http;

namespace {

void appendFields(std::string& out, const http::fields& fields) {
  for (const auto& field : fields) {
    out.append(field.name_string());
    out += ": ";
    out.append(field.value());
    out += "\r\n";
  }
  out += "\r\n";
}

}  // namespace

void appendRequestHead(std::string& out, const http::request_header<>& head) {
  out.append(head.method_string());
  out += ' ';
  out.append(head.target());
  out += " HTTP/1.1\r\n";
  appendFields(out, head);
}

void appendResponseHead(std::string& out, const http::response_header<>& head) {
  out += "HTTP/1.1 ";
  out += std::to_string(head.result_int());
  out += ' ';
  const auto reason = head.reason();
  out.append(reason.empty() ? http::obsolete_reason(head.result()) : reason);
  out += "\r\n";
  appendFields(out, head);
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
