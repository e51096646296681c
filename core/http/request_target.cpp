#include "core/http/request_target.hpp"

#include <boost/url/parse.hpp>

namespace spendgate::core {

std::optional<std::string> originFormOf(std::string_view target) {
  const auto parsed = boost::urls::parse_absolute_uri(target);
  if (!parsed) return std::nullopt;
  const boost::urls::url_view& url = *parsed;
  if (!url.has_authority() || url.encoded_host().empty() || url.has_userinfo()) return std::nullopt;
  const std::string_view path = url.encoded_path();
  // Boost 1.81 takes "http://host:80x/v1" with the path "x/v1": a bad port, not a path.
  if (!path.empty() && path.front() != '/') return std::nullopt;
  std::string origin = path.empty() ? std::string("/") : std::string(path);
  if (url.has_query()) {
    origin += '?';
    origin += url.encoded_query();
  }
  return origin;
}

}  // namespace spendgate::core
