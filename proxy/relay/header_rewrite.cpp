#include "proxy/relay/header_rewrite.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>
#include <string>
#include <vector>

namespace spendgate::proxy {

namespace http = boost::beast::http;

void stripHopByHop(http::fields& fields) {
  // One pass over the (few) fields, comparing Beast's field ids, instead of a lookup per name.
  std::vector<std::string> named;  // headers listed in Connection
  for (auto it = fields.begin(); it != fields.end();) {
    switch (it->name()) {
      case http::field::connection:
        for (auto token : http::token_list{it->value()}) named.emplace_back(token);
        [[fallthrough]];
      case http::field::keep_alive:
      case http::field::proxy_connection:
      case http::field::te:
      case http::field::trailer:
      case http::field::transfer_encoding:
      case http::field::upgrade:
      case http::field::proxy_authenticate:
      case http::field::proxy_authorization:
        it = fields.erase(it);
        break;
      default:
        ++it;
    }
  }
  for (const auto& name : named) fields.erase(name);
}

void rewriteRequestHeaders(http::fields& fields, std::string_view upstream_host) {
  stripHopByHop(fields);
  fields.erase(http::field::expect);
  fields.set(http::field::host, upstream_host);
  fields.set(http::field::accept_encoding, "identity");
}

std::string redactTarget(std::string_view target) {
  const auto query_start = target.find('?');
  if (query_start == std::string_view::npos) return std::string(target);
  std::string out(target.substr(0, query_start + 1));
  std::string_view query = target.substr(query_start + 1);
  bool first = true;
  while (!query.empty()) {
    const auto amp = query.find('&');
    std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (!first) out += '&';
    first = false;
    const auto eq = param.find('=');
    const std::string_view name = param.substr(0, eq);
    if (eq != std::string_view::npos &&
        (boost::beast::iequals(name, "key") || boost::beast::iequals(name, "api-key") ||
         boost::beast::iequals(name, "api_key"))) {
      out.append(name).append("=REDACTED");
    } else {
      out.append(param);
    }
  }
  return out;
}

}  // namespace spendgate::proxy
