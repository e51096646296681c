#pragma once

#include <string>
#include <string_view>

#include "core/provider/provider_format.hpp"

namespace spendgate::core {

/** Errors the proxy itself answers with (not the upstream's). */
enum class ProxyError {
  NotFound,             // no provider route for the path
  BadRequest,           // malformed request line or headers
  BodyTooLarge,         // over server.max_body_bytes
  HeaderTooLarge,       // over server.max_header_bytes
  RequestTimeout,       // the client went quiet mid-body for server.idle_timeout
  UpstreamUnavailable,  // refused, reset, TLS failure
  UpstreamTimeout,      // no answer within first_byte_timeout / request_timeout
  ProviderKeyMissing,   // a virtual-key call to a provider whose api_key_env is unset or empty
  UnsupportedEncoding,  // a metered request's Content-Encoding the proxy cannot undo
  UnsupportedTransferCoding,  // a request's Transfer-Encoding other than chunked alone (501)
  HttpVersionNotSupported,    // a request line's HTTP major version other than 1 (505)
  ExpectationFailed,          // an Expect other than 100-continue (417)
  // Denials (SPEC §4): the request never reaches the provider.
  EmergencyStop,
  UnknownKey,
  RequestCost,
  RateLimit,
  Budget,
  StoreUnavailable,
  UnknownModel,
};

/** What each provider's SDK expects to find in an error body, for one kind of error. */
struct ErrorKind {
  int status;
  std::string_view openai_type;
  std::string_view openai_code;
  std::string_view anthropic_type;
  std::string_view gemini_status;
  std::string_view denied_reason;  // x-spendgate-denied value; empty when not a denial
};

/** @return the status and error identifiers for a proxy error. */
const ErrorKind& errorKind(ProxyError error);

/**
 * Builds an error body in the caller's provider format (SPEC §4): OpenAI and Azure
 * `{"error":{"message","type","param","code"}}`, Anthropic `{"type":"error","error":{...}}`,
 * Gemini `{"error":{"code","message","status"}}`.
 */
std::string errorBody(ProviderFormat format, const ErrorKind& kind, std::string_view message);

}  // namespace spendgate::core
