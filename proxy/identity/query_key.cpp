#include "proxy/identity/query_key.hpp"

#include <boost/beast/core/string.hpp>

namespace spendgate::proxy {

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
