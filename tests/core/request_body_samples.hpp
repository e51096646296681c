#pragma once

// Request bodies for the tests of how a request body is read (request_body_json_test,
// request_classifier_model_test).

#include <cstddef>
#include <string>
#include <string_view>

#include "core/metering/request_classifier.hpp"

namespace spendgate::core::testing {

inline const std::string kBom = "\xEF\xBB\xBF";

/** The classification of `body` sent to OpenAI's chat completions. */
inline RequestInfo chat(const std::string& body) {
  return classifyRequest(ProviderFormat::OpenAI, "/v1/chat/completions", "", body);
}

/** `{"model":"gpt-4o","x":` + `depth - 1` nested arrays + `}`: `depth` levels in all. */
inline std::string nestedBody(std::size_t depth,
                              std::string_view head = R"({"model":"gpt-4o","x":)") {
  std::string body(head);
  body.append(depth - 1, '[');
  body.append(depth - 1, ']');
  body += "}";
  return body;
}

}  // namespace spendgate::core::testing
