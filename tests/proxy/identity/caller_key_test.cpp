#include "proxy/identity/caller_key.hpp"

#include <gtest/gtest.h>

#include <boost/beast/http/field.hpp>
#include <string>
#include <utility>
#include <vector>

namespace spendgate::proxy {
namespace {

namespace http = boost::beast::http;

TEST(CallerKeyTest, BearerTokenLosesEveryBlankAroundIt) {
  for (auto value : {"Bearer  sk-sg-v", "Bearer\tsk-sg-v", "bearer sk-sg-v", "BEARER \t sk-sg-v"}) {
    http::fields headers;
    headers.set(http::field::authorization, value);
    const auto key = findCallerKey(headers, "/v1/x");
    EXPECT_EQ(key.value, "sk-sg-v") << value;
    EXPECT_EQ(key.location, KeyLocation::AuthorizationBearer) << value;
  }
  for (auto value : {"Bearersk-sg-v", "Basic sk-sg-v", "Bearer ", "Bearer"}) {
    http::fields headers;
    headers.set(http::field::authorization, value);
    EXPECT_EQ(findCallerKey(headers, "/v1/x").location, KeyLocation::None) << value;
  }
}

TEST(CallerKeyTest, FindsTheKeyWhereEachProviderPutsIt) {
  http::fields bearer;
  bearer.set(http::field::authorization, "Bearer sk-abc");
  EXPECT_EQ(findCallerKey(bearer, "/v1/x").value, "sk-abc");
  EXPECT_EQ(findCallerKey(bearer, "/v1/x").location, KeyLocation::AuthorizationBearer);

  http::fields anthropic;
  anthropic.set("x-api-key", "sk-ant");
  EXPECT_EQ(findCallerKey(anthropic, "/v1/messages").location, KeyLocation::XApiKey);

  http::fields gemini;
  gemini.set("x-goog-api-key", "AIza");
  EXPECT_EQ(findCallerKey(gemini, "/v1beta/x").value, "AIza");

  http::fields azure;
  azure.set("api-key", "az");
  EXPECT_EQ(findCallerKey(azure, "/openai/x").location, KeyLocation::AzureApiKey);

  http::fields none;
  const auto query = findCallerKey(none, "/v1beta/m:generateContent?alt=sse&key=AIzaQ");
  EXPECT_EQ(query.value, "AIzaQ");
  EXPECT_EQ(query.location, KeyLocation::QueryKey);
  EXPECT_EQ(findCallerKey(none, "/v1/x").location, KeyLocation::None);
}

TEST(CallerKeyTest, ListsEveryOtherCredentialInEveryPlace) {
  http::fields same;
  same.set(http::field::authorization, "Bearer sk-sg-v");
  same.set("x-api-key", "sk-sg-v");
  EXPECT_TRUE(findCallerKey(same, "/v1/x?key=sk-sg-v").other_credentials.empty());

  http::fields mixed;
  mixed.set(http::field::authorization, "Bearer sk-other");
  mixed.set("x-api-key", "sk-sg-v");
  const auto key = findCallerKey(mixed, "/v1/x");
  EXPECT_EQ(key.value, "sk-other");
  EXPECT_EQ(key.other_credentials, std::vector<std::string>{"sk-sg-v"});

  // A second field of the same name, a later key= parameter (percent-encoded, name or value),
  // and a credential under another Authorization scheme all count.
  http::fields twice;
  twice.insert("x-api-key", "sk-ant-a");
  twice.insert("x-api-key", "sk-sg-v");
  twice.insert(http::field::authorization, "Token sk-sg-t");
  const auto all =
      findCallerKey(twice, "/v1beta/m:generateContent?key=AIza&%6Bey=sk%2Dsg-q&key=sk-sg-r");
  EXPECT_EQ(all.value, "sk-ant-a");
  EXPECT_EQ(all.other_credentials,
            (std::vector<std::string>{"sk-sg-v", "sk-sg-t", "AIza", "sk-sg-q", "sk-sg-r"}));

  http::fields bare;
  bare.set(http::field::authorization, "sk-sg-bare");
  const auto none = findCallerKey(bare, "/v1/x");
  EXPECT_EQ(none.location, KeyLocation::None);
  EXPECT_EQ(none.other_credentials, std::vector<std::string>{"sk-sg-bare"});
}

TEST(CallerKeyTest, AKeptCallerKeyIsOverwrittenAsANewOneIsFilled) {
  // Requests of one connection, each read into the same CallerKey: every one as read alone,
  // whatever the one before left in it (a longer key, other credentials, a query key).
  using Fields = std::vector<std::pair<std::string, std::string>>;
  const std::vector<std::pair<Fields, std::string>> requests = {
      {{{"Authorization", "Bearer sk-a-rather-long-key-of-sixty-four-characters-0123456789abcdef"}},
       "/v1/x"},
      {{{"Authorization", "Bearer sk-b"}}, "/v1/x"},
      {{{"x-api-key", "sk-ant-a"}, {"X-Api-Key", "sk-sg-v"}, {"Authorization", "Token sk-sg-t"}},
       "/v1beta/m:generateContent?key=AIza&%6Bey=sk%2Dsg-q&key=sk-sg-r"},
      {{}, "/v1/x"},
      {{}, "/v1beta/m:generateContent?alt=sse&%6Bey=sk%2Dsg-v"},
      {{{"x-goog-api-key", "AIza"}}, "/v1beta/x?key=AIza"},
      {{{"api-key", "az"}, {"Authorization", "sk-sg-bare"}}, "/openai/x"},
      {{{"Authorization", "Basic sk-sg-v"}}, "/v1/x"},
      {{{"Authorization", "Bearer sk-b"}, {"x-api-key", "sk-b"}}, "/v1/x?key=sk-b"},
  };
  const auto read = [](const Fields& list) {
    FlatFields fields;
    for (const auto& [name, value] : list) {
      fields.add(http::string_to_field(name), name, value);
    }
    return fields;
  };
  CallerKey kept;
  for (int round = 0; round < 2; ++round) {
    for (std::size_t i = 0; i < requests.size(); ++i) {
      // Each request after every other: the kept key holds the one before's.
      for (std::size_t j = 0; j < requests.size(); ++j) {
        const FlatFields before = read(requests[j].first);
        findCallerKey(before, requests[j].second, kept);
        const FlatFields fields = read(requests[i].first);
        findCallerKey(fields, requests[i].second, kept);
        const CallerKey alone = findCallerKey(fields, requests[i].second);
        EXPECT_EQ(kept.value, alone.value) << i << " after " << j;
        EXPECT_EQ(kept.location, alone.location) << i << " after " << j;
        EXPECT_EQ(kept.other_credentials, alone.other_credentials) << i << " after " << j;
      }
    }
  }
  EXPECT_EQ(findCallerKey(read(requests[2].first), requests[2].second).other_credentials,
            (std::vector<std::string>{"sk-sg-v", "sk-sg-t", "AIza", "sk-sg-q", "sk-sg-r"}));
}

TEST(CallerKeyTest, PercentEncodedQueryKeyIsReadAndRemoved) {
  http::fields headers;
  std::string target = "/v1beta/m:generateContent?%6Bey=sk%2Dsg-v&alt=sse";
  const auto key = findCallerKey(headers, target);
  EXPECT_EQ(key.value, "sk-sg-v");
  EXPECT_EQ(key.location, KeyLocation::QueryKey);
  injectProviderKey(headers, target, key, core::ProviderFormat::Gemini, "AIzaReal");
  EXPECT_EQ(target, "/v1beta/m:generateContent?alt=sse");
}

TEST(CallerKeyTest, Sha256IsLowerHex) {
  EXPECT_EQ(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(CallerKeyTest, VirtualKeyReplacedByProviderKeyInProviderHeader) {
  http::fields headers;
  headers.set(http::field::authorization, "Bearer sk-sg-virtual");
  std::string target = "/v1/messages";
  injectProviderKey(headers, target, findCallerKey(headers, target),
                    core::ProviderFormat::Anthropic, "sk-ant-real");
  EXPECT_EQ(headers.count(http::field::authorization), 0u);
  EXPECT_EQ(headers["x-api-key"], "sk-ant-real");
}

TEST(CallerKeyTest, VirtualKeyInQueryIsRemoved) {
  http::fields headers;
  std::string target = "/v1beta/m:streamGenerateContent?key=sk-sg-v&alt=sse";
  injectProviderKey(headers, target, findCallerKey(headers, target), core::ProviderFormat::Gemini,
                    "AIzaReal");
  EXPECT_EQ(target, "/v1beta/m:streamGenerateContent?alt=sse");
  EXPECT_EQ(headers["x-goog-api-key"], "AIzaReal");

  headers = {};
  std::string last = "/v1beta/m:generateContent?alt=sse&key=sk-sg-v";
  injectProviderKey(headers, last, findCallerKey(headers, last), core::ProviderFormat::Gemini,
                    "AIzaReal");
  EXPECT_EQ(last, "/v1beta/m:generateContent?alt=sse");

  headers = {};
  std::string only = "/v1beta/m:generateContent?key=sk-sg-v";
  injectProviderKey(headers, only, findCallerKey(headers, only), core::ProviderFormat::Gemini,
                    "AIzaReal");
  EXPECT_EQ(only, "/v1beta/m:generateContent");
}

TEST(CallerKeyTest, EveryCopyOfTheKeyIsRemoved) {
  http::fields headers;
  headers.set(http::field::authorization, "Bearer sk-sg-v");
  headers.set("x-goog-api-key", "sk-sg-v");
  std::string target = "/v1beta/m:generateContent?key=sk-sg-v&alt=sse&key=again";
  injectProviderKey(headers, target, findCallerKey(headers, target), core::ProviderFormat::Gemini,
                    "AIzaReal");
  EXPECT_EQ(target, "/v1beta/m:generateContent?alt=sse");
  EXPECT_EQ(headers.count(http::field::authorization), 0u);
  EXPECT_EQ(headers["x-goog-api-key"], "AIzaReal");
}

TEST(CallerKeyTest, OpenAiAndAzureHeaders) {
  http::fields headers;
  headers.set("x-api-key", "sk-sg-v");
  std::string target = "/v1/chat/completions";
  injectProviderKey(headers, target, findCallerKey(headers, target), core::ProviderFormat::OpenAI,
                    "sk-real");
  EXPECT_EQ(headers[http::field::authorization], "Bearer sk-real");
  EXPECT_EQ(headers.count("x-api-key"), 0u);

  http::fields az;
  az.set(http::field::authorization, "Bearer sk-sg-v");
  injectProviderKey(az, target, findCallerKey(az, target), core::ProviderFormat::Azure, "azkey");
  EXPECT_EQ(az["api-key"], "azkey");
  EXPECT_EQ(az.count(http::field::authorization), 0u);
}

// Audit 13: a virtual key in a place identity does not read went out as it was, the call counted
// as an anonymous passthrough one.
TEST(CallerKeyTest, AKeyInOurShapeOutsideTheKeyPlacesIsFound) {
  const std::string vk = "sk-sg-" + std::string(32, 'A');
  const auto with = [](std::string_view name, std::string_view value) {
    http::fields f;
    f.set(name, value);
    return f;
  };
  const http::fields none;
  // Elsewhere: any other header, Basic credentials, the path, another query parameter.
  EXPECT_TRUE(carriesKeyOutsideKeyPlaces(with("openai-api-key", vk), "/v1/models"));
  EXPECT_TRUE(carriesKeyOutsideKeyPlaces(with("X-Custom", "x " + vk + " y"), "/v1/models"));
  // base64("sk-sg-AAAA...A:") and base64(":sk-sg-AAAA...A")
  const std::string user_colon = "c2stc2ctQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE6";
  const std::string colon_user = "OnNrLXNnLUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB";
  EXPECT_TRUE(carriesKeyOutsideKeyPlaces(with("Authorization", "Basic " + user_colon), "/v1/m"));
  EXPECT_TRUE(carriesKeyOutsideKeyPlaces(with("authorization", "basic  " + colon_user), "/v1/m"));
  EXPECT_TRUE(carriesKeyOutsideKeyPlaces(none, "/v1/models?api_key=" + vk));
  EXPECT_TRUE(carriesKeyOutsideKeyPlaces(none, "/v1/models?a=1&KEY=" + vk));
  EXPECT_TRUE(
      carriesKeyOutsideKeyPlaces(none, "/v1/models?api-key=sk%2Dsg-" + std::string(32, 'A')));
  EXPECT_TRUE(carriesKeyOutsideKeyPlaces(none, "/v1/" + vk + "/models"));
  // The places identity reads (and strips, or refuses) are not "outside".
  EXPECT_FALSE(carriesKeyOutsideKeyPlaces(with("Authorization", "Bearer " + vk), "/v1/m"));
  EXPECT_FALSE(carriesKeyOutsideKeyPlaces(with("x-api-key", vk), "/v1/m"));
  EXPECT_FALSE(carriesKeyOutsideKeyPlaces(with("X-Goog-Api-Key", vk), "/v1/m"));
  EXPECT_FALSE(carriesKeyOutsideKeyPlaces(with("api-key", vk), "/v1/m"));
  EXPECT_FALSE(carriesKeyOutsideKeyPlaces(none, "/v1beta/models/m:generateContent?key=" + vk));
  EXPECT_FALSE(carriesKeyOutsideKeyPlaces(none, "/v1/m?%6Bey=" + vk));
  // Not our shape: too short, or other text.
  EXPECT_FALSE(carriesKeyOutsideKeyPlaces(with("X-Custom", "sk-sg-short"), "/v1/m?q=sk-sg-AB"));
  EXPECT_FALSE(carriesKeyOutsideKeyPlaces(with("Authorization", "Basic !!!!"), "/v1/m"));
  EXPECT_FALSE(carriesKeyOutsideKeyPlaces(with("Authorization", "Basic dXNlcjpwYXNz"), "/v1/m"));
}

}  // namespace
}  // namespace spendgate::proxy
