#include "core/http/error_response.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace spendgate::core {
namespace {

TEST(ErrorResponseTest, OpenAiShapeHasMessageTypeParamCode) {
  const auto& kind = errorKind(ProxyError::UpstreamUnavailable);
  EXPECT_EQ(kind.status, 502);
  auto body = boost::json::parse(errorBody(ProviderFormat::OpenAI, kind, "down \"x\""));
  const auto& error = body.at("error").as_object();
  EXPECT_EQ(error.at("message").as_string(), "down \"x\"");
  EXPECT_EQ(error.at("type").as_string(), "api_error");
  EXPECT_TRUE(error.at("param").is_null());
  EXPECT_EQ(error.at("code").as_string(), "upstream_unavailable");
}

TEST(ErrorResponseTest, AzureUsesOpenAiShape) {
  const auto& kind = errorKind(ProxyError::NotFound);
  EXPECT_EQ(errorBody(ProviderFormat::Azure, kind, "m"),
            errorBody(ProviderFormat::OpenAI, kind, "m"));
}

TEST(ErrorResponseTest, AnthropicShape) {
  const auto& kind = errorKind(ProxyError::BodyTooLarge);
  EXPECT_EQ(kind.status, 413);
  auto body = boost::json::parse(errorBody(ProviderFormat::Anthropic, kind, "too big"));
  EXPECT_EQ(body.at("type").as_string(), "error");
  EXPECT_EQ(body.at("error").at("type").as_string(), "request_too_large");
  EXPECT_EQ(body.at("error").at("message").as_string(), "too big");
}

TEST(ErrorResponseTest, GeminiShapeCarriesNumericCodeAndStatus) {
  const auto& kind = errorKind(ProxyError::UpstreamTimeout);
  auto body = boost::json::parse(errorBody(ProviderFormat::Gemini, kind, "slow"));
  EXPECT_EQ(body.at("error").at("code").as_int64(), 504);
  EXPECT_EQ(body.at("error").at("status").as_string(), "DEADLINE_EXCEEDED");
  EXPECT_EQ(body.at("error").at("message").as_string(), "slow");
}

TEST(ErrorResponseTest, EveryErrorHasItsStatus) {
  EXPECT_EQ(errorKind(ProxyError::NotFound).status, 404);
  EXPECT_EQ(errorKind(ProxyError::BadRequest).status, 400);
  EXPECT_EQ(errorKind(ProxyError::HeaderTooLarge).status, 431);
  EXPECT_EQ(errorKind(ProxyError::HeaderTooLarge).openai_code, "request_header_fields_too_large");
}

TEST(ErrorResponseTest, RequestTimeoutIs408InEveryFormat) {
  const auto& kind = errorKind(ProxyError::RequestTimeout);
  EXPECT_EQ(kind.status, 408);
  EXPECT_EQ(kind.openai_type, "invalid_request_error");
  EXPECT_EQ(kind.openai_code, "request_timeout");
  EXPECT_EQ(kind.anthropic_type, "invalid_request_error");
  EXPECT_EQ(kind.gemini_status, "DEADLINE_EXCEEDED");
  EXPECT_EQ(kind.denied_reason, "");
  // The entries after it did not shift.
  EXPECT_EQ(errorKind(ProxyError::UpstreamUnavailable).status, 502);
}

TEST(ErrorResponseTest, MissingProviderKeyIsAServerErrorNotADenial) {
  const auto& kind = errorKind(ProxyError::ProviderKeyMissing);
  EXPECT_EQ(kind.status, 500);
  EXPECT_EQ(kind.denied_reason, "");
  EXPECT_EQ(kind.openai_type, "api_error");
  EXPECT_EQ(kind.openai_code, "provider_key_missing");
  EXPECT_EQ(kind.anthropic_type, "api_error");
  EXPECT_EQ(kind.gemini_status, "INTERNAL");
  // The entries after it (denials) did not shift.
  EXPECT_EQ(errorKind(ProxyError::EmergencyStop).denied_reason, "emergency_stop");
  EXPECT_EQ(errorKind(ProxyError::UnknownModel).denied_reason, "unknown_model");
}

TEST(ErrorResponseTest, UnsupportedEncodingIs415NotADenial) {
  const auto& kind = errorKind(ProxyError::UnsupportedEncoding);
  EXPECT_EQ(kind.status, 415);
  EXPECT_EQ(kind.denied_reason, "");
  EXPECT_EQ(kind.openai_type, "invalid_request_error");
  EXPECT_EQ(kind.openai_code, "unsupported_content_encoding");
  EXPECT_EQ(kind.anthropic_type, "invalid_request_error");
  EXPECT_EQ(kind.gemini_status, "INVALID_ARGUMENT");
  EXPECT_EQ(errorKind(ProxyError::EmergencyStop).denied_reason, "emergency_stop");
}

TEST(ErrorResponseTest, UnsupportedTransferCodingIs501NotADenial) {
  const auto& kind = errorKind(ProxyError::UnsupportedTransferCoding);
  EXPECT_EQ(kind.status, 501);
  EXPECT_EQ(kind.openai_type, "invalid_request_error");
  EXPECT_EQ(kind.openai_code, "unsupported_transfer_coding");
  EXPECT_EQ(kind.anthropic_type, "invalid_request_error");
  EXPECT_EQ(kind.gemini_status, "UNIMPLEMENTED");
  EXPECT_EQ(kind.denied_reason, "");
  // The entries after it did not shift.
  EXPECT_EQ(errorKind(ProxyError::EmergencyStop).denied_reason, "emergency_stop");
  EXPECT_EQ(errorKind(ProxyError::UnknownModel).openai_code, "model_not_priced");
}

TEST(ErrorResponseTest, HttpVersionNotSupportedIs505NotADenial) {
  const auto& kind = errorKind(ProxyError::HttpVersionNotSupported);
  EXPECT_EQ(kind.status, 505);
  EXPECT_EQ(kind.openai_type, "invalid_request_error");
  EXPECT_EQ(kind.openai_code, "http_version_not_supported");
  EXPECT_EQ(kind.anthropic_type, "invalid_request_error");
  EXPECT_EQ(kind.gemini_status, "UNIMPLEMENTED");
  EXPECT_EQ(kind.denied_reason, "");
  EXPECT_EQ(errorKind(ProxyError::EmergencyStop).denied_reason, "emergency_stop");
}

TEST(ErrorResponseTest, ExpectationFailedIs417NotADenial) {
  const auto& kind = errorKind(ProxyError::ExpectationFailed);
  EXPECT_EQ(kind.status, 417);
  EXPECT_EQ(kind.openai_type, "invalid_request_error");
  EXPECT_EQ(kind.openai_code, "expectation_failed");
  EXPECT_EQ(kind.anthropic_type, "invalid_request_error");
  EXPECT_EQ(kind.gemini_status, "FAILED_PRECONDITION");
  EXPECT_EQ(kind.denied_reason, "");
  EXPECT_EQ(errorKind(ProxyError::EmergencyStop).denied_reason, "emergency_stop");
}

}  // namespace
}  // namespace spendgate::core
