#include "core/metering/request_classifier.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <utility>

namespace spendgate::core {
namespace {

TEST(RequestClassifier, OpenAiEndpoints) {
  EXPECT_EQ(classifyRequest(ProviderFormat::OpenAI, "/v1/chat/completions", "", "").kind,
            EndpointKind::ChatCompletions);
  EXPECT_EQ(classifyRequest(ProviderFormat::OpenAI, "/v1/completions", "", "").kind,
            EndpointKind::Completions);
  EXPECT_EQ(classifyRequest(ProviderFormat::OpenAI, "/v1/embeddings/", "", "").kind,
            EndpointKind::Embeddings);
  EXPECT_EQ(classifyRequest(ProviderFormat::OpenAI, "/v1/responses", "", "").kind,
            EndpointKind::Responses);
  EXPECT_EQ(classifyRequest(ProviderFormat::OpenAI, "/v1/chat/completions?x=1", "", "").kind,
            EndpointKind::ChatCompletions);
  EXPECT_EQ(classifyRequest(ProviderFormat::OpenAI, "/v1/models", "", "").kind,
            EndpointKind::Unmetered);
}

// endpointKind reads the kind from the path alone, the same as classifyRequest: the proxy uses it
// to decide whether a request body must be read (decoded) at all.
TEST(RequestClassifier, EndpointKindFromThePathAloneMatchesClassifyRequest) {
  const std::pair<ProviderFormat, const char*> cases[] = {
      {ProviderFormat::OpenAI, "/v1/chat/completions"},
      {ProviderFormat::OpenAI, "/v1/chat/completions/?stream=true"},
      {ProviderFormat::OpenAI, "/v1/completions"},
      {ProviderFormat::OpenAI, "/v1/embeddings"},
      {ProviderFormat::OpenAI, "/v1/responses"},
      {ProviderFormat::OpenAI, "/v1/files"},
      {ProviderFormat::OpenAI, "/v1/models"},
      {ProviderFormat::Azure, "/openai/deployments/prod/chat/completions?api-version=1"},
      {ProviderFormat::Anthropic, "/v1/messages"},
      {ProviderFormat::Anthropic, "/v1/messages/count_tokens"},
      {ProviderFormat::Gemini, "/v1beta/models/gemini-2.0-flash:generateContent"},
      {ProviderFormat::Gemini, "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"},
      {ProviderFormat::Gemini, "/v1beta/models/text-embedding-004:embedContent"},
      {ProviderFormat::Gemini, "/v1beta/models/gemini-2.0-flash:countTokens"},
      {ProviderFormat::Gemini, "/v1beta/openai/chat/completions"},
      {ProviderFormat::Gemini, "/upload/v1beta/files"},
  };
  for (const auto& [format, path] : cases) {
    EXPECT_EQ(endpointKind(format, path), classifyRequest(format, path, "", "{}").kind) << path;
  }
  EXPECT_EQ(endpointKind(ProviderFormat::OpenAI, "/v1/chat/completions"),
            EndpointKind::ChatCompletions);
  EXPECT_EQ(endpointKind(ProviderFormat::OpenAI, "/v1/files"), EndpointKind::Unmetered);
  EXPECT_EQ(endpointKind(ProviderFormat::Anthropic, "/v1/messages/count_tokens"),
            EndpointKind::Unmetered);
  EXPECT_EQ(endpointKind(ProviderFormat::Gemini, "/v1beta/models/g:streamGenerateContent"),
            EndpointKind::GeminiStreamGenerateContent);
}

// Anthropic serves and bills an OpenAI SDK compatibility endpoint; the OpenAI SDK reaches it
// with an anthropic-version header on the shared /v1/ path (audit 12: it was unmetered, so a
// hard budget did not stop it).
TEST(RequestClassifier, AnthropicOpenAiCompatibleChatIsAMeteredChatCompletion) {
  for (const char* path : {"/v1/chat/completions", "/v1/chat/completions/",
                           "/v1/chat%2Fcompletions", "/v1/chat/completions?beta=true"}) {
    const RequestInfo info = classifyRequest(
        ProviderFormat::Anthropic, path, "",
        R"({"model":"claude-opus-4-1","max_tokens":10,"stream":true,"messages":[]})");
    EXPECT_EQ(info.kind, EndpointKind::ChatCompletions) << path;
    EXPECT_EQ(info.requested_model, "claude-opus-4-1") << path;
    EXPECT_EQ(info.max_output_tokens, 10) << path;
    EXPECT_TRUE(info.needs_usage_injection) << path;
  }
  EXPECT_TRUE(isOpenAiCompatibleAnthropicPath(ProviderFormat::Anthropic, "/v1/chat/completions"));
  EXPECT_FALSE(isOpenAiCompatibleAnthropicPath(ProviderFormat::OpenAI, "/v1/chat/completions"));
  EXPECT_FALSE(isOpenAiCompatibleAnthropicPath(ProviderFormat::Anthropic, "/v1/messages"));
  EXPECT_EQ(endpointKind(ProviderFormat::Anthropic, "/v1/models"), EndpointKind::Unmetered);
}

TEST(RequestClassifier, MaxTokensInEveryDialect) {
  auto max = [](ProviderFormat f, const char* path, const char* body) {
    return classifyRequest(f, path, "", body).max_output_tokens;
  };
  EXPECT_EQ(max(ProviderFormat::OpenAI, "/v1/chat/completions", R"({"max_tokens":100})"), 100);
  EXPECT_EQ(max(ProviderFormat::OpenAI, "/v1/chat/completions",
                R"({"max_tokens":100,"max_completion_tokens":300})"),
            300);
  EXPECT_EQ(max(ProviderFormat::OpenAI, "/v1/responses", R"({"max_output_tokens":50})"), 50);
  EXPECT_EQ(max(ProviderFormat::Gemini, "/v1beta/models/gemini-2.0-flash:generateContent",
                R"({"generationConfig":{"maxOutputTokens":800}})"),
            800);
  EXPECT_EQ(max(ProviderFormat::OpenAI, "/v1/chat/completions", R"({"model":"x"})"), std::nullopt);
  EXPECT_EQ(max(ProviderFormat::OpenAI, "/v1/chat/completions", "not json"), std::nullopt);
}

// Gemini's REST API accepts proto field names in lowerCamelCase or snake_case (the Python SDK's
// REST transport and hand-written requests send snake_case): both bound the worst case.
TEST(RequestClassifier, GeminiSnakeCaseGenerationConfig) {
  const char* path = "/v1beta/models/gemini-2.5-flash:generateContent";
  auto info = [&](const char* body) {
    return classifyRequest(ProviderFormat::Gemini, path, "", body);
  };
  EXPECT_EQ(info(R"({"generation_config":{"max_output_tokens":800}})").max_output_tokens, 800);
  EXPECT_EQ(info(R"({"generationConfig":{"max_output_tokens":700}})").max_output_tokens, 700);
  EXPECT_EQ(info(R"({"generation_config":{"maxOutputTokens":600}})").max_output_tokens, 600);
  EXPECT_EQ(info(R"({"generation_config":{"candidate_count":3}})").choices, 3);
  EXPECT_EQ(info(R"({"generationConfig":{"candidate_count":4}})").choices, 4);
  // Both spellings in one body: camelCase first, whatever the order in the body.
  EXPECT_EQ(info(R"({"generation_config":{"max_output_tokens":6},"generationConfig":)"
                 R"({"maxOutputTokens":5}})")
                .max_output_tokens,
            5);
  EXPECT_EQ(info(R"({"generationConfig":{"maxOutputTokens":5},"generation_config":)"
                 R"({"max_output_tokens":6}})")
                .max_output_tokens,
            5);
  // A spelling that is not an integer reads as absent; the next one counts.
  EXPECT_EQ(info(R"({"generationConfig":{"maxOutputTokens":"five"},"generation_config":)"
                 R"({"max_output_tokens":6}})")
                .max_output_tokens,
            6);
  // Only inside the config object: a nested look-alike does not count.
  EXPECT_EQ(
      info(R"({"contents":[{"generation_config":{"max_output_tokens":5}}]})").max_output_tokens,
      std::nullopt);
}

// Native Gemini reads proto3 JSON, where 0 is the unset default: maxOutputTokens 0 is no cap, so
// the model's maximum bounds the request (audit 13: it bounded the output at 0, and the request
// passed max_cost_usd and hard budgets on its input alone).
TEST(RequestClassifier, GeminiMaxOutputTokensZeroIsNoCap) {
  const char* path = "/v1beta/models/gemini-2.5-pro:generateContent";
  auto info = [&](const char* body) {
    return classifyRequest(ProviderFormat::Gemini, path, "", body);
  };
  for (const char* body : {R"({"generationConfig":{"maxOutputTokens":0}})",
                           R"({"generationConfig":{"maxOutputTokens":"0"}})",
                           R"({"generationConfig":{"max_output_tokens":0}})",
                           R"({"generation_config":{"maxOutputTokens":0.0}})",
                           R"({"generation_config":{"max_output_tokens":"0"}})"}) {
    const auto got = info(body);
    EXPECT_EQ(got.max_output_tokens, std::nullopt) << body;
    EXPECT_EQ(got.output_cap_field, "generationConfig.maxOutputTokens") << body;
  }
  // A 0 is skipped like any absent spelling: the next one counts.
  EXPECT_EQ(
      info(R"({"generationConfig":{"maxOutputTokens":0,"max_output_tokens":7}})").max_output_tokens,
      7);
  EXPECT_EQ(info(R"({"generationConfig":{"maxOutputTokens":1}})").max_output_tokens, 1);
  // Gemini's OpenAI-compatible API, OpenAI and Anthropic read 0 as a cap of 0, as they always did.
  EXPECT_EQ(classifyRequest(ProviderFormat::Gemini, "/v1beta/openai/chat/completions", "",
                            R"({"model":"gemini-2.5-pro","max_tokens":0})")
                .max_output_tokens,
            0);
  EXPECT_EQ(classifyRequest(ProviderFormat::OpenAI, "/v1/chat/completions", "",
                            R"({"model":"gpt-4o","max_tokens":0})")
                .max_output_tokens,
            0);
  EXPECT_EQ(classifyRequest(ProviderFormat::Anthropic, "/v1/messages", "",
                            R"({"model":"claude-sonnet-4-5","max_tokens":0})")
                .max_output_tokens,
            0);
}

// Gemini reads proto3 JSON, where an int32 may be sent as a string: "8" candidates are 8.
TEST(RequestClassifier, GeminiCountsSentAsStringsCount) {
  const char* path = "/v1beta/models/gemini-2.5-pro:generateContent";
  auto info = [&](const std::string& body) {
    return classifyRequest(ProviderFormat::Gemini, path, "", body);
  };
  const auto both = info(R"({"generationConfig":{"candidateCount":"8","maxOutputTokens":"100"}})");
  EXPECT_EQ(both.choices, 8);
  EXPECT_EQ(both.max_output_tokens, 100);
  EXPECT_EQ(both.output_cap_field, "generationConfig.maxOutputTokens");
  EXPECT_EQ(info(R"({"generationConfig":{"candidateCount":"8","maxOutputTokens":8000}})").choices,
            8);
  EXPECT_EQ(info(R"({"generation_config":{"candidate_count":"3"}})").choices, 3);
  EXPECT_EQ(info(R"({"generationConfig":{"candidate_count":"4"}})").choices, 4);
  EXPECT_EQ(info(R"({"generation_config":{"candidateCount":"5"}})").choices, 5);
  EXPECT_EQ(info(R"({"generation_config":{"max_output_tokens":"700"}})").max_output_tokens, 700);
  EXPECT_EQ(info(R"({"generation_config":{"maxOutputTokens":"600"}})").max_output_tokens, 600);
  EXPECT_EQ(info(R"({"generationConfig":{"max_output_tokens":"500"}})").max_output_tokens, 500);
  // As protobuf's JSON parser reads them: blanks, a '+', escapes, a whole number in any notation.
  EXPECT_EQ(info(R"({"generationConfig":{"candidateCount":" +6 "}})").choices, 6);
  EXPECT_EQ(info(R"({"generationConfig":{"candidateCount":"\u0037"}})").choices, 7);
  EXPECT_EQ(info(R"({"generationConfig":{"candidateCount":"8.0"}})").choices, 8);
  EXPECT_EQ(info(R"({"generationConfig":{"candidateCount":"8e0"}})").choices, 8);
  EXPECT_EQ(info(R"({"generationConfig":{"candidateCount":"0008"}})").choices, 8);
  EXPECT_EQ(info(R"({"generationConfig":{"maxOutputTokens":"1e2"}})").max_output_tokens, 100);
  // A long string arrives in parts.
  EXPECT_EQ(info(R"({"generationConfig":{"candidateCount":")" + std::string(70000, ' ') + R"(8"}})")
                .choices,
            8);
  // Strings that are no whole number read as absent, as before.
  for (const char* count : {R"("")", R"(" ")", R"("8x")", R"("2.5")", R"("++8")", R"("-")",
                            R"("0x8")", R"("nan")", R"("1e999")", R"("99999999999999999999")"}) {
    const std::string body = std::string(R"({"generationConfig":{"candidateCount":)") + count +
                             R"(,"maxOutputTokens":)" + count + "}}";
    EXPECT_EQ(info(body).choices, 1) << count;
    EXPECT_EQ(info(body).max_output_tokens, std::nullopt) << count;
  }
  EXPECT_EQ(info(R"({"generationConfig":{"maxOutputTokens":"-1"}})").max_output_tokens,
            std::nullopt);
  // A later duplicate replaces a numeric string.
  EXPECT_EQ(info(R"({"generationConfig":{"candidateCount":"8","candidateCount":"x"}})").choices, 1);
  EXPECT_EQ(info(R"({"generationConfig":{"candidateCount":"x","candidateCount":"8"}})").choices, 8);
}

// OpenAI's and Anthropic's APIs refuse a count sent as a string: there it stays absent.
TEST(RequestClassifier, OtherApisCountsSentAsStringsDoNot) {
  EXPECT_EQ(classifyRequest(ProviderFormat::OpenAI, "/v1/chat/completions", "",
                            R"({"n":"8","max_completion_tokens":"100"})")
                .choices,
            1);
  EXPECT_EQ(classifyRequest(ProviderFormat::OpenAI, "/v1/chat/completions", "",
                            R"({"n":"8","max_completion_tokens":"100"})")
                .max_output_tokens,
            std::nullopt);
  EXPECT_EQ(
      classifyRequest(ProviderFormat::Anthropic, "/v1/messages", "", R"({"max_tokens":"100"})")
          .max_output_tokens,
      std::nullopt);
  EXPECT_EQ(classifyRequest(ProviderFormat::Gemini, "/v1beta/models/g:generateContent", "",
                            R"({"n":"8","max_tokens":"100"})")
                .max_output_tokens,
            std::nullopt);
  // Gemini's OpenAI-compatible API reads OpenAI's shape, not proto3 JSON.
  EXPECT_EQ(classifyRequest(ProviderFormat::Gemini, "/v1beta/openai/chat/completions", "",
                            R"({"generationConfig":{"candidateCount":"8","maxOutputTokens":"5"}})")
                .max_output_tokens,
            std::nullopt);
  // Not even in a generationConfig sent to them (which the classifier reads whatever the API).
  const char* gemini_shaped =
      R"({"generationConfig":{"candidateCount":"8","maxOutputTokens":"5"}})";
  EXPECT_EQ(
      classifyRequest(ProviderFormat::OpenAI, "/v1/chat/completions", "", gemini_shaped).choices,
      1);
  EXPECT_EQ(classifyRequest(ProviderFormat::Anthropic, "/v1/messages", "", gemini_shaped)
                .max_output_tokens,
            std::nullopt);
}

// Upstreams, and gateways in front of them, decode the path: it is classified as they read it.
TEST(RequestClassifier, EncodedPathsAreClassifiedAsTheyDecode) {
  const auto gemini = [](const char* path) {
    return classifyRequest(ProviderFormat::Gemini, path, "", "{}");
  };
  auto info = gemini("/v1beta/models/gemini-2.5-flash%3AgenerateContent");
  EXPECT_EQ(info.kind, EndpointKind::GeminiGenerateContent);
  EXPECT_EQ(info.requested_model, "gemini-2.5-flash");
  info = gemini("/v1beta/models/gemini-2.5-flash%3astreamGenerateContent?alt=sse");
  EXPECT_EQ(info.kind, EndpointKind::GeminiStreamGenerateContent);
  EXPECT_TRUE(info.stream);
  EXPECT_EQ(info.requested_model, "gemini-2.5-flash");
  EXPECT_EQ(gemini("/v1beta/models%2Fgemini-2.5-pro%3AgenerateContent").requested_model,
            "gemini-2.5-pro");
  EXPECT_EQ(gemini("/v1beta/models/gemini-2.5-%70ro:generateContent").requested_model,
            "gemini-2.5-pro");
  EXPECT_EQ(gemini("/v1beta/models/text-embedding-004%3AembedContent").kind,
            EndpointKind::Embeddings);
  EXPECT_EQ(gemini("/v1beta/openai/chat%2Fcompletions").kind, EndpointKind::ChatCompletions);
  EXPECT_TRUE(gemini("/v1beta/openai/chat%2Fcompletions").gemini_compat);
  EXPECT_EQ(gemini("/v1beta/models/g%253AgenerateContent").kind,
            EndpointKind::GeminiGenerateContent);

  EXPECT_EQ(classifyRequest(ProviderFormat::OpenAI, "/v1/chat%2Fcompletions", "", "{}").kind,
            EndpointKind::ChatCompletions);
  EXPECT_EQ(classifyRequest(ProviderFormat::OpenAI, "/v1/chat%2fcompletions/", "", "{}").kind,
            EndpointKind::ChatCompletions);
  EXPECT_EQ(classifyRequest(ProviderFormat::OpenAI, "/v1/%72esponses", "", "{}").kind,
            EndpointKind::Responses);
  EXPECT_EQ(classifyRequest(ProviderFormat::Anthropic, "/v1/messag%65s", "", "{}").kind,
            EndpointKind::AnthropicMessages);
  const auto azure =
      classifyRequest(ProviderFormat::Azure, "/openai/deployments%2Fprod%2Fchat%2Fcompletions", "",
                      "{}", {{"prod", "gpt-4o"}});
  EXPECT_EQ(azure.kind, EndpointKind::ChatCompletions);
  EXPECT_EQ(azure.azure_deployment, "prod");
  EXPECT_EQ(azure.requested_model, "gpt-4o");

  EXPECT_EQ(endpointKind(ProviderFormat::Gemini, "/v1beta/models/g%3AgenerateContent?alt=sse"),
            EndpointKind::GeminiGenerateContent);
  EXPECT_EQ(endpointKind(ProviderFormat::OpenAI, "/v1/chat%2Fcompletions?x=1"),
            EndpointKind::ChatCompletions);

  // A path no reading agrees on is classified as sent: the proxy refuses it before it gets here.
  EXPECT_EQ(
      classifyRequest(ProviderFormat::Gemini, "/v1beta/models/g:generateContent%zz", "", "{}").kind,
      EndpointKind::Unmetered);
  EXPECT_EQ(classifyRequest(ProviderFormat::OpenAI, "/v1/chat/completions%00", "", "{}").kind,
            EndpointKind::Unmetered);
  EXPECT_EQ(classifyRequest(ProviderFormat::OpenAI, "/../v1/chat/completions", "", "{}").kind,
            EndpointKind::ChatCompletions);
}

TEST(RequestClassifier, DotSegmentsAndRepeatedSlashesAreResolved) {
  EXPECT_EQ(classifyRequest(ProviderFormat::OpenAI, "/v1/chat/completions/x/..", "", "{}").kind,
            EndpointKind::ChatCompletions);
  EXPECT_EQ(classifyRequest(ProviderFormat::OpenAI, "/v1/chat/completions/.", "", "{}").kind,
            EndpointKind::ChatCompletions);
  EXPECT_EQ(classifyRequest(ProviderFormat::OpenAI, "/v1/chat//completions", "", "{}").kind,
            EndpointKind::ChatCompletions);
  EXPECT_EQ(classifyRequest(ProviderFormat::OpenAI, "/v1/chat/completions%2F..%2F..%2Fresponses",
                            "", "{}")
                .kind,
            EndpointKind::Responses);
  EXPECT_EQ(
      classifyRequest(ProviderFormat::Anthropic, "/v1/messages/count_tokens/..", "", "{}").kind,
      EndpointKind::AnthropicMessages);
  const auto gemini = classifyRequest(
      ProviderFormat::Gemini, "/v1beta/models/x/../gemini-2.5-flash:generateContent", "", "{}");
  EXPECT_EQ(gemini.kind, EndpointKind::GeminiGenerateContent);
  EXPECT_EQ(gemini.requested_model, "gemini-2.5-flash");
  EXPECT_EQ(endpointKind(ProviderFormat::Gemini,
                         "/v1beta/models/g:countTokens/..%2F.%2Fg%3Agenerate"
                         "Content"),
            EndpointKind::GeminiGenerateContent);
}

TEST(RequestClassifier, StreamAndIncludeUsage) {
  const auto plain = classifyRequest(ProviderFormat::OpenAI, "/v1/chat/completions", "",
                                     R"({"model":"gpt-4o","stream":true})");
  EXPECT_TRUE(plain.stream);
  EXPECT_FALSE(plain.include_usage_requested);
  EXPECT_TRUE(plain.needs_usage_injection);
  const auto asked = classifyRequest(ProviderFormat::OpenAI, "/v1/chat/completions", "",
                                     R"({"stream":true,"stream_options":{"include_usage":true}})");
  EXPECT_TRUE(asked.include_usage_requested);
  EXPECT_FALSE(asked.needs_usage_injection);
  const auto off = classifyRequest(ProviderFormat::OpenAI, "/v1/chat/completions", "",
                                   R"({"stream":true,"stream_options":{"include_usage":false}})");
  EXPECT_TRUE(off.needs_usage_injection);
  const auto no_stream =
      classifyRequest(ProviderFormat::OpenAI, "/v1/chat/completions", "", R"({"model":"gpt-4o"})");
  EXPECT_FALSE(no_stream.needs_usage_injection);
  const auto responses = classifyRequest(ProviderFormat::OpenAI, "/v1/responses", "",
                                         R"({"model":"gpt-4o","stream":true})");
  EXPECT_FALSE(responses.needs_usage_injection);
}

// Azure's classic API refuses stream_options before api-version 2024-08-01-preview (400
// "Unrecognized request argument supplied: stream_options"): such a stream goes upstream as sent
// (audit 13: it failed through spendgate and worked directly).
TEST(RequestClassifier, AzureClassicStreamGetsIncludeUsageOnlyAtAnApiVersionThatTakesIt) {
  const char* path = "/openai/deployments/prod/chat/completions";
  const char* body = R"({"stream":true,"messages":[]})";
  auto injects = [&](const char* query, const char* at = nullptr) {
    return classifyRequest(ProviderFormat::Azure, at ? at : path, query, body)
        .needs_usage_injection;
  };
  for (const char* query :
       {"api-version=2023-05-15", "api-version=2024-02-01", "api-version=2024-05-01-preview",
        "api-version=2024-06-01", "api-version=2024-07-31", "", "x=1",
        "api-version=", "api-version=preview", "api-version=2024-8-01",
        // every api-version must take it, however spelled
        "api-version=2024-10-21&api-version=2024-02-01",
        "API-Version=2024-02-01&api-version=2024-10-21",
        "api%2Dversion=2024-02-01&api-version=2024-10-21"}) {
    EXPECT_FALSE(injects(query)) << query;
  }
  for (const char* query : {"api-version=2024-08-01-preview", "api-version=2024-09-01-preview",
                            "api-version=2024-10-21", "api-version=2025-04-01-preview",
                            "x=1&api-version=2024-10-21", "Api-Version=2024%2D10%2D21"}) {
    EXPECT_TRUE(injects(query)) << query;
  }
  EXPECT_FALSE(injects("api-version=2024-02-01", "/openai/deployments/prod/completions"));
  // Azure's v1 API takes it whatever the api-version (none, "preview", "latest").
  for (const char* query : {"", "api-version=preview", "api-version=latest"}) {
    EXPECT_TRUE(injects(query, "/openai/v1/chat/completions")) << query;
  }
  // Only Azure reads an api-version.
  EXPECT_TRUE(classifyRequest(ProviderFormat::OpenAI, "/v1/chat/completions",
                              "api-version=2024-02-01", body)
                  .needs_usage_injection);
  // The rest of the classification is unchanged.
  const auto old = classifyRequest(ProviderFormat::Azure, path, "api-version=2024-02-01", body,
                                   DeploymentMap{{"prod", "gpt-4o"}});
  EXPECT_TRUE(old.stream);
  EXPECT_EQ(old.requested_model, "gpt-4o");
}

TEST(RequestClassifier, AzurePaths) {
  const DeploymentMap deployments{{"chat-prod", "gpt-4o-mini"}};
  const auto classic =
      classifyRequest(ProviderFormat::Azure, "/openai/deployments/chat-prod/chat/completions",
                      "api-version=2024-10-21", R"({"messages":[]})", deployments);
  EXPECT_EQ(classic.kind, EndpointKind::ChatCompletions);
  EXPECT_EQ(classic.requested_model, "gpt-4o-mini");
  const auto unmapped =
      classifyRequest(ProviderFormat::Azure, "/openai/deployments/other/embeddings", "", "{}");
  EXPECT_EQ(unmapped.kind, EndpointKind::Embeddings);
  EXPECT_EQ(unmapped.requested_model, "other");  // priced if a catalog entry has that name
  const auto v1 =
      classifyRequest(ProviderFormat::Azure, "/openai/v1/responses", "", R"({"model":"gpt-4.1"})");
  EXPECT_EQ(v1.kind, EndpointKind::Responses);
  EXPECT_EQ(v1.requested_model, "gpt-4.1");
  EXPECT_EQ(v1.azure_deployment, "gpt-4.1");
}

// Azure's v1 API names the deployment in the body's model: mapped like the classic path's.
TEST(RequestClassifier, AzureV1BodyModelIsMappedThroughDeployments) {
  const DeploymentMap deployments{{"prod-gpt4o", "gpt-4o"}};
  for (const auto* path : {"/openai/v1/chat/completions", "/openai/v1/responses"}) {
    const auto v1 = classifyRequest(ProviderFormat::Azure, path, "",
                                    R"({"model":"prod-gpt4o","input":"hi"})", deployments);
    EXPECT_EQ(v1.requested_model, "gpt-4o") << path;
    EXPECT_EQ(v1.azure_deployment, "prod-gpt4o") << path;
  }
  const auto unmapped = classifyRequest(ProviderFormat::Azure, "/openai/v1/chat/completions", "",
                                        R"({"model":"other"})", deployments);
  EXPECT_EQ(unmapped.requested_model, "other");
  EXPECT_EQ(unmapped.azure_deployment, "other");
  // Only Azure maps a body model: an OpenAI provider's "prod-gpt4o" is a model name.
  const auto openai = classifyRequest(ProviderFormat::OpenAI, "/v1/chat/completions", "",
                                      R"({"model":"prod-gpt4o"})", deployments);
  EXPECT_EQ(openai.requested_model, "prod-gpt4o");
  EXPECT_EQ(openai.azure_deployment, "");
}

// The path may carry any byte from 0x80 up; the model it names must be UTF-8 (ledger, labels).
TEST(RequestClassifier, AModelOrDeploymentInThePathThatIsNotUtf8BecomesUtf8) {
  const auto gemini = classifyRequest(ProviderFormat::Gemini,
                                      "/v1beta/models/gem\xFFini:generateContent", "", "{}");
  EXPECT_EQ(gemini.requested_model, "gem\xEF\xBF\xBDini");
  const auto azure = classifyRequest(ProviderFormat::Azure,
                                     "/openai/deployments/dep\xC0/chat/completions", "", "{}");
  EXPECT_EQ(azure.azure_deployment, "dep\xEF\xBF\xBD");
  EXPECT_EQ(azure.requested_model, "dep\xEF\xBF\xBD");
}

TEST(RequestClassifier, AnthropicAndGemini) {
  EXPECT_EQ(classifyRequest(ProviderFormat::Anthropic, "/v1/messages", "", "{}").kind,
            EndpointKind::AnthropicMessages);
  EXPECT_EQ(classifyRequest(ProviderFormat::Anthropic, "/v1/messages/count_tokens", "", "{}").kind,
            EndpointKind::Unmetered);
  const auto gemini = classifyRequest(ProviderFormat::Gemini,
                                      "/v1beta/models/gemini-2.5-pro:countTokens", "", "{}");
  EXPECT_EQ(gemini.kind, EndpointKind::Unmetered);
  EXPECT_EQ(classifyRequest(ProviderFormat::OpenAI, "/v1/responses/input_tokens", "", "{}").kind,
            EndpointKind::Unmetered);
  // Gemini embeddings are billed like OpenAI's: input only.
  const auto embed = classifyRequest(ProviderFormat::Gemini,
                                     "/v1beta/models/gemini-embedding-001:embedContent", "", "{}");
  EXPECT_EQ(embed.kind, EndpointKind::Embeddings);
  EXPECT_EQ(embed.requested_model, "gemini-embedding-001");
  EXPECT_EQ(classifyRequest(ProviderFormat::Gemini,
                            "/v1beta/models/gemini-embedding-001:batchEmbedContents", "", "{}")
                .kind,
            EndpointKind::Embeddings);
  const auto compat = classifyRequest(ProviderFormat::Gemini, "/v1beta/openai/chat/completions", "",
                                      R"({"model":"gemini-2.0-flash","stream":true,"n":3})");
  EXPECT_TRUE(compat.gemini_compat);
  EXPECT_TRUE(compat.needs_usage_injection);
  EXPECT_EQ(compat.choices, 3);
  EXPECT_EQ(compat.requested_model, "gemini-2.0-flash");
}

// Gemini's OpenAI-compatible API takes (and /v1beta/openai/models lists) "models/gemini-2.5-flash":
// its requested model is "gemini-2.5-flash", as a native path's is, so a budget or rate limit
// matched on the model applies (audit 13: the prefix let a call escape a gemini-2.5-* budget).
TEST(RequestClassifier, GeminiCompatModelsPrefixIsNamedAsTheNativePathNamesIt) {
  for (const char* path : {"/v1beta/openai/chat/completions", "/v1beta/openai/embeddings",
                           "/v1beta/openai/responses"}) {
    const auto info = classifyRequest(ProviderFormat::Gemini, path, "",
                                      R"({"model":"models/gemini-2.5-flash","input":"x"})");
    EXPECT_EQ(info.requested_model, "gemini-2.5-flash") << path;
    EXPECT_EQ(info.model_problem, ModelProblem::None) << path;
  }
  // Only a leading "models/", once.
  auto compat = [](const char* body) {
    return classifyRequest(ProviderFormat::Gemini, "/v1beta/openai/chat/completions", "", body);
  };
  EXPECT_EQ(compat(R"({"model":"models/models/x"})").requested_model, "models/x");
  EXPECT_EQ(compat(R"({"model":"gemini/gemini-2.5-flash"})").requested_model,
            "gemini/gemini-2.5-flash");
  EXPECT_EQ(compat(R"({"model":"tunedModels/t"})").requested_model, "tunedModels/t");
  EXPECT_EQ(compat(R"({"model":"models/"})").model_problem, ModelProblem::NoModel);
  // Other providers' body models are names as they stand.
  EXPECT_EQ(classifyRequest(ProviderFormat::OpenAI, "/v1/chat/completions", "",
                            R"({"model":"models/gemini-2.5-flash"})")
                .requested_model,
            "models/gemini-2.5-flash");
}

// responses.compact() is a billed model pass whose answer carries Responses usage: metered as
// /responses is, wherever /responses is (Azure v1, Gemini's OpenAI-compatible API).
TEST(RequestClassifier, ResponsesCompactIsAMeteredResponsesCall) {
  const std::string body = R"({"model":"gpt-5","previous_response_id":"resp_1"})";
  const auto openai = classifyRequest(ProviderFormat::OpenAI, "/v1/responses/compact", "", body);
  EXPECT_EQ(openai.kind, EndpointKind::Responses);
  EXPECT_EQ(openai.requested_model, "gpt-5");
  EXPECT_TRUE(openai.model_from_body);
  EXPECT_EQ(openai.request_body_bytes, static_cast<std::int64_t>(body.size()));
  // It takes no output cap: a denial must not advise setting one.
  EXPECT_EQ(openai.output_cap_field, "");
  EXPECT_FALSE(openai.max_output_tokens.has_value());
  EXPECT_EQ(endpointKind(ProviderFormat::OpenAI, "/v1/responses/compact/"),
            EndpointKind::Responses);
  EXPECT_EQ(endpointKind(ProviderFormat::OpenAI, "/v1/responses%2Fcompact"),
            EndpointKind::Responses);
  const DeploymentMap deployments{{"prod", "gpt-5"}};
  const auto azure = classifyRequest(ProviderFormat::Azure, "/openai/v1/responses/compact", "",
                                     R"({"model":"prod"})", deployments);
  EXPECT_EQ(azure.kind, EndpointKind::Responses);
  EXPECT_EQ(azure.requested_model, "gpt-5");
  const auto gemini = classifyRequest(ProviderFormat::Gemini, "/v1beta/openai/responses/compact",
                                      "", R"({"model":"gemini-2.5-flash"})");
  EXPECT_EQ(gemini.kind, EndpointKind::Responses);
  EXPECT_TRUE(gemini.gemini_compat);
  // Without a model it is refused like any metered call under unknown_model: reject.
  EXPECT_EQ(
      classifyRequest(ProviderFormat::OpenAI, "/v1/responses/compact", "", "{}").model_problem,
      ModelProblem::NoModel);
  // A plain /responses call keeps its own cap field; other sub-paths stay unmetered.
  EXPECT_EQ(classifyRequest(ProviderFormat::OpenAI, "/v1/responses", "", "{}").output_cap_field,
            "max_output_tokens");
  for (const char* path : {"/v1/responses/input_tokens", "/v1/responses/resp_1",
                           "/v1/responses/resp_1/cancel", "/v1/responses/resp_1/input_items"}) {
    EXPECT_EQ(endpointKind(ProviderFormat::OpenAI, path), EndpointKind::Unmetered) << path;
  }
}

// background: true is read from the body (the proxy settles such a run at its worst case when
// the answer carries no final usage); anything but a JSON true reads as false.
TEST(RequestClassifier, ReadsBackground) {
  const auto path = "/v1/responses";
  EXPECT_TRUE(
      classifyRequest(ProviderFormat::OpenAI, path, "", R"({"model":"o3","background":true})")
          .background);
  EXPECT_FALSE(classifyRequest(ProviderFormat::OpenAI, path, "", R"({"model":"o3"})").background);
  EXPECT_FALSE(
      classifyRequest(ProviderFormat::OpenAI, path, "", R"({"background":"true"})").background);
  EXPECT_FALSE(
      classifyRequest(ProviderFormat::OpenAI, path, "", R"({"background":true,"background":false})")
          .background);
  EXPECT_FALSE(
      classifyRequest(ProviderFormat::OpenAI, path, "", R"({"metadata":{"background":true}})")
          .background);
  EXPECT_TRUE(classifyRequest(ProviderFormat::Azure, "/openai/v1/responses", "",
                              R"({"model":"o3","stream":true,"background":true})")
                  .background);
}

// Legacy completions bill all best_of candidates generated server-side, not just the n returned.
TEST(RequestClassifier, BestOfBoundsTheChoices) {
  auto choices = [](const char* body) {
    return classifyRequest(ProviderFormat::OpenAI, "/v1/completions", "", body).choices;
  };
  EXPECT_EQ(choices(R"({"max_tokens":50,"best_of":5})"), 5);
  EXPECT_EQ(choices(R"({"n":2,"best_of":5})"), 5);
  EXPECT_EQ(choices(R"({"n":4,"best_of":3})"), 4);  // the API refuses best_of < n; still no less
  EXPECT_EQ(choices(R"({"best_of":1})"), 1);
  EXPECT_EQ(choices(R"({"best_of":"5"})"), 1);  // not an integer: absent
  EXPECT_EQ(choices(R"({"best_of":1000})"), 128);
}

// What a request_cost denial tells the caller to lower: the field it set, else its endpoint's.
TEST(RequestClassifier, OnlyTheCalledApisFieldsBoundTheRequest) {
  // A field another API reads is ignored (or refused) upstream: it must not lower the bound.
  const char* gemini_shaped = R"({"generationConfig":{"maxOutputTokens":1,"candidateCount":1}})";
  EXPECT_EQ(classifyRequest(ProviderFormat::OpenAI, "/v1/chat/completions", "", gemini_shaped)
                .max_output_tokens,
            std::nullopt);
  EXPECT_EQ(classifyRequest(ProviderFormat::Anthropic, "/v1/messages", "", gemini_shaped)
                .max_output_tokens,
            std::nullopt);
  EXPECT_EQ(
      classifyRequest(ProviderFormat::Gemini, "/v1beta/openai/chat/completions", "", gemini_shaped)
          .max_output_tokens,
      std::nullopt);
  // On a native Gemini call `max_tokens` and `n` are no Gemini fields: generationConfig decides.
  const RequestInfo native =
      classifyRequest(ProviderFormat::Gemini, "/v1beta/models/gemini-2.5-pro:generateContent", "",
                      R"({"max_tokens":1,"n":1,"generationConfig":{"candidateCount":8,)"
                      R"("maxOutputTokens":8000}})");
  EXPECT_EQ(native.max_output_tokens, 8000);
  EXPECT_EQ(native.choices, 8);
  EXPECT_EQ(classifyRequest(ProviderFormat::Gemini, "/v1beta/models/g:generateContent", "",
                            R"({"max_tokens":1,"n":1})")
                .max_output_tokens,
            std::nullopt);
}

TEST(RequestClassifier, OutputCapFieldFollowsTheCallersApi) {
  auto field = [](ProviderFormat f, const char* path, const char* body) {
    return std::string(classifyRequest(f, path, "", body).output_cap_field);
  };
  const char* gemini = "/v1beta/models/gemini-2.0-flash:generateContent";
  EXPECT_EQ(field(ProviderFormat::Gemini, gemini, R"({"generationConfig":{"maxOutputTokens":8}})"),
            "generationConfig.maxOutputTokens");
  EXPECT_EQ(
      field(ProviderFormat::Gemini, gemini, R"({"generation_config":{"max_output_tokens":8}})"),
      "generation_config.max_output_tokens");
  EXPECT_EQ(field(ProviderFormat::Gemini, gemini, "{}"), "generationConfig.maxOutputTokens");
  EXPECT_EQ(field(ProviderFormat::Anthropic, "/v1/messages", R"({"max_tokens":8})"), "max_tokens");
  EXPECT_EQ(field(ProviderFormat::OpenAI, "/v1/responses", R"({"max_output_tokens":8})"),
            "max_output_tokens");
  EXPECT_EQ(field(ProviderFormat::OpenAI, "/v1/responses", "{}"), "max_output_tokens");
  EXPECT_EQ(field(ProviderFormat::OpenAI, "/v1/chat/completions", R"({"max_tokens":8})"),
            "max_tokens");
  EXPECT_EQ(field(ProviderFormat::OpenAI, "/v1/chat/completions", "{}"), "max_completion_tokens");
  EXPECT_EQ(field(ProviderFormat::OpenAI, "/v1/completions", "{}"), "max_tokens");
  EXPECT_EQ(field(ProviderFormat::OpenAI, "/v1/embeddings", "{}"), "");
}

TEST(RequestClassifier, BodySizeAndTier) {
  const std::string body = R"({"model":"gpt-5","service_tier":"flex"})";
  const auto info = classifyRequest(ProviderFormat::OpenAI, "/v1/chat/completions", "", body);
  EXPECT_EQ(info.request_body_bytes, static_cast<std::int64_t>(body.size()));
  EXPECT_EQ(info.service_tier, "flex");
  EXPECT_TRUE(info.body_is_json);
}

TEST(RequestClassifier, OnlyUnsafeMethodsMayBill) {
  // GET /v1/chat/completions lists stored completions, OPTIONS is a CORS preflight: never billed.
  EXPECT_FALSE(methodMayBill("GET"));
  EXPECT_FALSE(methodMayBill("HEAD"));
  EXPECT_FALSE(methodMayBill("OPTIONS"));
  EXPECT_TRUE(methodMayBill("POST"));
  EXPECT_TRUE(methodMayBill("PUT"));
  EXPECT_TRUE(methodMayBill("PATCH"));
  EXPECT_TRUE(methodMayBill("DELETE"));
  // Methods are case-sensitive: an upstream lenient about case must not see a free "get".
  EXPECT_TRUE(methodMayBill("get"));
  EXPECT_TRUE(methodMayBill("post"));
  EXPECT_TRUE(methodMayBill(""));
}

}  // namespace
}  // namespace spendgate::core
