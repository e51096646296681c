// What the classifier says about a metered request whose model cannot be told: the proxy refuses
// it under unknown_model: reject (RequestInfo::model_problem).

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "core/metering/request_body_json.hpp"
#include "core/metering/request_classifier.hpp"
#include "tests/core/request_body_samples.hpp"

namespace spendgate::core {
namespace {

using testing::chat;
using testing::kBom;
using testing::nestedBody;

TEST(RequestClassifierModel, UnreadableBodies) {
  for (const std::string& body : {
           std::string(R"({"model":"gpt-4o","messages":[{"role":"user","content":"\udead"}]})"),
           std::string(
               R"({"model":"gpt-4o","messages":[{"role":"user","content":"\ude00\ud83d"}]})"),
           std::string("{\"model\":\"gpt-4o\",\"x\":\"\xff\"}"),  // not UTF-8
           std::string(R"({"model":"gpt-4o",})"),
           std::string(R"({"model":"gpt-4o"} {})"),
           std::string(R"(["model","gpt-4o"])"),
           std::string("not json"),
           nestedBody(kRequestBodyMaxDepth + 1),
           kBom + kBom + R"({"model":"gpt-4o"})",
           std::string(""),
       }) {
    const auto info = chat(body);
    EXPECT_FALSE(info.body_is_json) << body;
    EXPECT_TRUE(info.model_from_body) << body;
    EXPECT_EQ(info.model_problem, ModelProblem::UnreadableBody) << body;
  }
  // A surrogate pair is fine: only an unpaired one is refused by the JSON reader.
  EXPECT_EQ(chat(R"({"model":"gpt-4o","x":"\ud83d\ude00"})").model_problem, ModelProblem::None);
}

TEST(RequestClassifierModel, NoModel) {
  for (const char* body : {R"({"messages":[]})", R"({"model":123,"messages":[]})",
                           R"({"model":null})", R"({"model":["gpt-4o"]})", R"({"model":""})",
                           R"({"model":{"name":"gpt-4o"}})", R"({"model":"gpt-4o","model":1})"}) {
    const auto info = chat(body);
    EXPECT_TRUE(info.body_is_json) << body;
    EXPECT_EQ(info.requested_model, "") << body;
    EXPECT_EQ(info.model_problem, ModelProblem::NoModel) << body;
  }
  EXPECT_EQ(chat(R"({"model":1,"model":"gpt-4o"})").model_problem, ModelProblem::None);
}

TEST(RequestClassifierModel, EveryEndpointThatPricesTheBodysModel) {
  const std::pair<ProviderFormat, const char*> routes[] = {
      {ProviderFormat::OpenAI, "/v1/chat/completions"},
      {ProviderFormat::OpenAI, "/v1/completions"},
      {ProviderFormat::OpenAI, "/v1/embeddings"},
      {ProviderFormat::OpenAI, "/v1/responses"},
      {ProviderFormat::Anthropic, "/v1/messages"},
      {ProviderFormat::Gemini, "/v1beta/openai/chat/completions"},
      {ProviderFormat::Azure, "/openai/v1/chat/completions"},
  };
  for (const auto& [format, path] : routes) {
    const auto unreadable = classifyRequest(format, path, "", R"({"model":"\udead"})");
    EXPECT_TRUE(unreadable.model_from_body) << path;
    EXPECT_EQ(unreadable.model_problem, ModelProblem::UnreadableBody) << path;
    EXPECT_EQ(classifyRequest(format, path, "", "{}").model_problem, ModelProblem::NoModel) << path;
    EXPECT_EQ(classifyRequest(format, path, "", kBom + R"({"model":"m"})").model_problem,
              ModelProblem::None)
        << path;
  }
}

TEST(RequestClassifierModel, ModelFromThePathOrUnmetered) {
  // Native Gemini and Azure deployments name the model in the path: the body does not matter.
  const auto gemini = classifyRequest(
      ProviderFormat::Gemini, "/v1beta/models/gemini-2.5-flash:generateContent", "", "\"\\udead\"");
  EXPECT_FALSE(gemini.model_from_body);
  EXPECT_EQ(gemini.model_problem, ModelProblem::None);
  const auto azure = classifyRequest(ProviderFormat::Azure,
                                     "/openai/deployments/prod/chat/completions", "", "not json");
  EXPECT_FALSE(azure.model_from_body);
  EXPECT_EQ(azure.requested_model, "prod");
  EXPECT_EQ(azure.model_problem, ModelProblem::None);
  // A path that names none has none.
  EXPECT_EQ(classifyRequest(ProviderFormat::Gemini, "/v1beta/models/:generateContent", "", "{}")
                .model_problem,
            ModelProblem::NoModel);
  // Free endpoints are never refused for it.
  for (const auto& [format, path] :
       {std::pair{ProviderFormat::OpenAI, "/v1/files"},
        std::pair{ProviderFormat::OpenAI, "/v1/models"},
        std::pair{ProviderFormat::Anthropic, "/v1/messages/count_tokens"},
        std::pair{ProviderFormat::Anthropic, "/v1/messages/batches"}}) {
    const auto info = classifyRequest(format, path, "", "not json");
    EXPECT_EQ(info.kind, EndpointKind::Unmetered) << path;
    EXPECT_FALSE(info.model_from_body) << path;
    EXPECT_EQ(info.model_problem, ModelProblem::None) << path;
  }
}

}  // namespace
}  // namespace spendgate::core
