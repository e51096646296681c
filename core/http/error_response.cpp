#include "core/http/error_response.hpp"

#include <boost/json.hpp>

namespace spendgate::core {

const ErrorKind& errorKind(ProxyError error) {
  // status, OpenAI type, OpenAI code, Anthropic type, Gemini status, x-spendgate-denied
  static const ErrorKind kKinds[] = {
      {404, "invalid_request_error", "not_found", "not_found_error", "NOT_FOUND", ""},
      {400, "invalid_request_error", "bad_request", "invalid_request_error", "INVALID_ARGUMENT",
       ""},
      {413, "invalid_request_error", "request_too_large", "request_too_large", "INVALID_ARGUMENT",
       ""},
      {431, "invalid_request_error", "request_header_fields_too_large", "invalid_request_error",
       "INVALID_ARGUMENT", ""},
      // Anthropic lists no type for a 408 (provider-usage.md): a client-side fault.
      {408, "invalid_request_error", "request_timeout", "invalid_request_error",
       "DEADLINE_EXCEEDED", ""},
      {502, "api_error", "upstream_unavailable", "api_error", "UNAVAILABLE", ""},
      {504, "api_error", "upstream_timeout", "api_error", "DEADLINE_EXCEEDED", ""},
      {500, "api_error", "provider_key_missing", "api_error", "INTERNAL", ""},
      {415, "invalid_request_error", "unsupported_content_encoding", "invalid_request_error",
       "INVALID_ARGUMENT", ""},
      {501, "invalid_request_error", "unsupported_transfer_coding", "invalid_request_error",
       "UNIMPLEMENTED", ""},
      {505, "invalid_request_error", "http_version_not_supported", "invalid_request_error",
       "UNIMPLEMENTED", ""},
      {417, "invalid_request_error", "expectation_failed", "invalid_request_error",
       "FAILED_PRECONDITION", ""},
      {503, "service_unavailable", "emergency_stop", "api_error", "UNAVAILABLE", "emergency_stop"},
      {401, "invalid_request_error", "invalid_api_key", "authentication_error", "UNAUTHENTICATED",
       "unknown_key"},
      {400, "invalid_request_error", "request_cost_limit_exceeded", "invalid_request_error",
       "INVALID_ARGUMENT", "request_cost"},
      {429, "rate_limit_exceeded", "rate_limit_exceeded", "rate_limit_error", "RESOURCE_EXHAUSTED",
       "rate_limit"},
      {429, "insufficient_quota", "budget_exceeded", "rate_limit_error", "RESOURCE_EXHAUSTED",
       "budget"},
      {503, "service_unavailable", "store_unavailable", "api_error", "UNAVAILABLE",
       "store_unavailable"},
      {400, "invalid_request_error", "model_not_priced", "invalid_request_error",
       "INVALID_ARGUMENT", "unknown_model"},
  };
  return kKinds[static_cast<int>(error)];
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
