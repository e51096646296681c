#pragma once

// The request body as the document-based classifier (boost::json::parse + json_fields) read it
// before classifyRequest became a one-pass scan: the reference the scan is held to
// (request_classifier_body_test.cpp, parser_mutation_test.cpp).

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/usage/json_fields.hpp"

namespace spendgate::core::testing {

/** The body-derived fields as the document-based classifier computed them. */
struct BodyView {
  bool body_is_json = false;
  std::string model;
  bool stream = false;
  bool include_usage = false;
  std::string service_tier;
  std::optional<std::int64_t> max_output_tokens;
  std::int64_t choices = 1;
};

inline BodyView referenceBody(std::string_view body) {
  boost::json::value doc;
  if (!body.empty()) {
    boost::json::parse_options options;
    options.max_depth = 256;
    boost::system::error_code ec;
    try {
      doc = boost::json::parse(body, ec, {}, options);
    } catch (...) {
      ec = boost::json::make_error_code(boost::json::error::exception);
    }
    if (ec) doc = nullptr;
  }
  const boost::json::object* root = doc.if_object();
  BodyView e;
  e.body_is_json = root != nullptr;
  e.model = std::string(json_fields::stringMember(root, "model"));
  e.stream = json_fields::boolMember(root, "stream").value_or(false);
  e.include_usage =
      json_fields::boolMember(json_fields::objectMember(root, "stream_options"), "include_usage")
          .value_or(false);
  e.service_tier = std::string(json_fields::stringMember(root, "service_tier"));
  // Gemini takes either spelling of the object and of its members; camelCase is read first.
  const auto* generation = json_fields::objectMember(root, "generationConfig");
  const auto* generation_snake = json_fields::objectMember(root, "generation_config");
  for (const auto& [object, key] :
       {std::pair{root, "max_completion_tokens"}, std::pair{root, "max_tokens"},
        std::pair{root, "max_output_tokens"}, std::pair{generation, "maxOutputTokens"},
        std::pair{generation, "max_output_tokens"}, std::pair{generation_snake, "maxOutputTokens"},
        std::pair{generation_snake, "max_output_tokens"}}) {
    if (const auto v = json_fields::integerMember(object, key); v && *v >= 0) {
      e.max_output_tokens = *v;
      break;
    }
  }
  std::optional<std::int64_t> choices;
  for (const auto& [object, key] :
       {std::pair{root, "n"}, std::pair{generation, "candidateCount"},
        std::pair{generation, "candidate_count"}, std::pair{generation_snake, "candidateCount"},
        std::pair{generation_snake, "candidate_count"}}) {
    choices = json_fields::integerMember(object, key);
    if (choices) break;
  }
  if (const auto best_of = json_fields::integerMember(root, "best_of"); best_of && *best_of > 1) {
    choices = std::max(choices.value_or(1), *best_of);
  }
  if (choices && *choices > 1) e.choices = std::min<std::int64_t>(*choices, 128);
  return e;
}

}  // namespace spendgate::core::testing
