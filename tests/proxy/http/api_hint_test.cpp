#include "proxy/http/api_hint.hpp"

#include <gtest/gtest.h>

#include <boost/beast/http/fields.hpp>

namespace spendgate::proxy {
namespace {

namespace http = boost::beast::http;

http::fields fieldsOf(std::initializer_list<std::pair<const char*, const char*>> list) {
  http::fields fields;
  for (const auto& [name, value] : list) fields.insert(name, value);
  return fields;
}

TEST(ApiHintTest, AnthropicVersionNamesAnthropicWhateverElseComes) {
  EXPECT_EQ(apiHintOf(fieldsOf({{"Anthropic-Version", "2023-06-01"}})), core::ApiHint::Anthropic);
  EXPECT_EQ(apiHintOf(fieldsOf({{"authorization", "Bearer k"}, {"anthropic-version", "x"}})),
            core::ApiHint::Anthropic);
  EXPECT_EQ(apiHintOf(fieldsOf({{"x-goog-api-key", "k"}, {"anthropic-version", "x"}})),
            core::ApiHint::Anthropic);
}

// An OpenAI client always sends Authorization, and may put a virtual key in any key header.
TEST(ApiHintTest, AGoogKeyNamesGeminiOnlyWithoutAuthorization) {
  EXPECT_EQ(apiHintOf(fieldsOf({{"X-Goog-Api-Key", "k"}})), core::ApiHint::Gemini);
  EXPECT_EQ(apiHintOf(fieldsOf({{"x-goog-api-key", "k"}, {"Authorization", "Bearer k"}})),
            core::ApiHint::None);
  EXPECT_EQ(apiHintOf(fieldsOf({{"authorization", "Bearer k"}, {"x-goog-api-key", "k"}})),
            core::ApiHint::None);
}

// Audit 13: Gemini's quickstart form, the key in the query, went to the OpenAI upstream on /v1/.
TEST(ApiHintTest, AGeminiKeyInTheQueryNamesGeminiOnlyWithoutAuthorization) {
  const auto target = "/v1/models/gemini-2.5-flash:generateContent?key=AIza";
  EXPECT_EQ(apiHintOf(fieldsOf({}), target), core::ApiHint::Gemini);
  EXPECT_EQ(apiHintOf(fieldsOf({}), "/v1/models/m:generateContent?alt=sse&%6Bey=AIza"),
            core::ApiHint::Gemini);
  EXPECT_EQ(apiHintOf(fieldsOf({{"Authorization", "Bearer k"}}), target), core::ApiHint::None);
  EXPECT_EQ(apiHintOf(fieldsOf({{"anthropic-version", "x"}}), target), core::ApiHint::Anthropic);
  EXPECT_EQ(apiHintOf(fieldsOf({}), "/v1/models?keys=1&monkey=2&key"), core::ApiHint::None);
}

TEST(ApiHintTest, NothingElseIsAHint) {
  EXPECT_EQ(apiHintOf(fieldsOf({})), core::ApiHint::None);
  EXPECT_EQ(apiHintOf(fieldsOf({{"x-api-key", "k"},
                                {"api-key", "k"},
                                {"anthropic-beta", "x"},
                                {"x-goog-api-client", "genai-js"},
                                {"anthropic-versio", "x"}})),
            core::ApiHint::None);
}

}  // namespace
}  // namespace spendgate::proxy
