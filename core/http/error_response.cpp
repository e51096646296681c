#include "core/http/error_response.hpp"

#include <boost/json.hpp>

namespace spendgate::core {

const ErrorKind& errorKind(ProxyError error) {
  static const ErrorKind kNotFound{404, "invalid_request_error", "not_found", "not_found_error",
                                   "NOT_FOUND"};
  static const ErrorKind kBadRequest{400, "invalid_request_error", "bad_request",
                                     "invalid_request_error", "INVALID_ARGUMENT"};
  static const ErrorKind kBodyTooLarge{413, "invalid_request_error", "request_too_large",
                                       "request_too_large", "INVALID_ARGUMENT"};
  static const ErrorKind kHeaderTooLarge{431, "invalid_request_error",
                                         "request_header_fields_too_large", "invalid_request_error",
                                         "INVALID_ARGUMENT"};
  static const ErrorKind kUpstreamUnavailable{502, "api_error", "upstream_unavailable", "api_error",
                                              "UNAVAILABLE"};
  static const ErrorKind kUpstreamTimeout{504, "api_error", "upstream_timeout", "api_error",
                                          "DEADLINE_EXCEEDED"};
  switch (error) {
    case ProxyError::NotFound:
      return kNotFound;
    case ProxyError::BadRequest:
      return kBadRequest;
    case ProxyError::BodyTooLarge:
      return kBodyTooLarge;
    case ProxyError::HeaderTooLarge:
      return kHeaderTooLarge;
    case ProxyError::UpstreamUnavailable:
      return kUpstreamUnavailable;
    case ProxyError::UpstreamTimeout:
      return kUpstreamTimeout;
  }
  return kBadRequest;
}

std::string errorBody(ProviderFormat format, const ErrorKind& kind, std::string_view message) {
  boost::json::object body;
  switch (format) {
    case ProviderFormat::Anthropic:
      body["type"] = "error";
      body["error"] = {{"type", kind.anthropic_type}, {"message", message}};
      break;
    case ProviderFormat::Gemini:
      body["error"] = {{"code", kind.status}, {"message", message}, {"status", kind.gemini_status}};
      break;
    case ProviderFormat::OpenAI:
    case ProviderFormat::Azure:
      body["error"] = {{"message", message},
                       {"type", kind.openai_type},
                       {"param", nullptr},
                       {"code", kind.openai_code}};
      break;
  }
  return boost::json::serialize(body);
}

}  // namespace spendgate::core
