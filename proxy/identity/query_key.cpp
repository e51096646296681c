#include "proxy/identity/query_key.hpp"

#include <boost/beast/core/string.hpp>

namespace spendgate::proxy {

namespace {

int hexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

// The provider decodes the query, so "%6Bey=sk%2Dsg-..." is the key parameter holding a virtual
// key all the same.
std::string percentDecoded(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hexDigit(text[i + 1]) >= 0 &&
        hexDigit(text[i + 2]) >= 0) {
      out += static_cast<char>(hexDigit(text[i + 1]) * 16 + hexDigit(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

bool isKeyParameterName(std::string_view name) {
  if (name == "key") return true;
  return name.find('%') != std::string_view::npos && percentDecoded(name) == "key";
}

// A superset of isKeyParameterName by construction (same decoding, then a wider comparison), so a
// parameter identity reads as a key is never logged in clear.
bool isCredentialParameterName(std::string_view name) {
  if (isKeyParameterName(name)) return true;
  const std::string decoded =
      name.find('%') == std::string_view::npos ? std::string(name) : percentDecoded(name);
  return boost::beast::iequals(decoded, "key") || boost::beast::iequals(decoded, "api-key") ||
         boost::beast::iequals(decoded, "api_key");
}

}  // namespace spendgate::proxy
