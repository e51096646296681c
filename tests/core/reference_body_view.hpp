#pragma once

// The request body as the document-based classifier (boost::json::parse + json_fields) read it
// before classifyRequest became a one-pass scan: the reference the scan is held to
// (request_classifier_body_test.cpp, parser_mutation_test.cpp).

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/value.hpp>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/metering/request_body_json.hpp"
#include "core/usage/json_fields.hpp"

namespace spendgate::core::testing {

/** The body-derived fields as the document-based classifier computed them. */
/**
 * A proto3 JSON count written as a string, read the plain way (strtoll, else strtod): blanks
 * around it, one sign, digits with an optional fraction and exponent. The classifier's own reading
 * is held to this.
 */
inline std::optional<std::int64_t> referenceStringCount(std::string_view s) {
  constexpr std::string_view kBlanks = " \t\n\v\f\r";
  const auto first = s.find_first_not_of(kBlanks);
  if (first == std::string_view::npos) return std::nullopt;
  const std::string text(s.substr(first, s.find_last_not_of(kBlanks) - first + 1));
  std::size_t i = text[0] == '+' || text[0] == '-' ? 1 : 0;
  const auto digits = [&] {
    const std::size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    return i - start;
  };
  std::size_t mantissa = digits();
  bool whole = true;
  if (i < text.size() && text[i] == '.') {
    ++i;
    mantissa += digits();
    whole = false;
  }
  if (mantissa == 0) return std::nullopt;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
    if (digits() == 0) return std::nullopt;
    whole = false;
  }
  if (i != text.size()) return std::nullopt;
  if (whole) {
    errno = 0;
    const long long n = std::strtoll(text.c_str(), nullptr, 10);
    if (errno == 0) return static_cast<std::int64_t>(n);
  }
  json_fields::CountValue value;
  value.kind = json_fields::CountValue::Kind::Double;
  value.d = std::strtod(text.c_str(), nullptr);
  return value.integer();
}

struct BodyView {
  bool body_is_json = false;
  std::string model;
  bool stream = false;
  bool background = false;
  bool include_usage = false;
  std::string service_tier;
  std::optional<std::int64_t> max_output_tokens;
  std::int64_t choices = 1;
};

/**
 * @param proto_json a native Gemini route: only generationConfig bounds the request, and its
 *        counts may be strings (proto3 JSON); elsewhere only the root's fields do.
 */
inline BodyView referenceBody(std::string_view body, bool proto_json = false) {
  boost::json::value doc;
  if (body.starts_with("\xEF\xBB\xBF")) body.remove_prefix(3);  // a UTF-8 BOM is skipped
  if (!body.empty()) {
    boost::json::parse_options options;
    options.max_depth = kRequestBodyMaxDepth;
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
  e.background = json_fields::boolMember(root, "background").value_or(false);
  e.include_usage =
      json_fields::boolMember(json_fields::objectMember(root, "stream_options"), "include_usage")
          .value_or(false);
  e.service_tier = std::string(json_fields::stringMember(root, "service_tier"));
  // Gemini takes either spelling of the object and of its members; camelCase is read first.
  const auto* generation = json_fields::objectMember(root, "generationConfig");
  const auto* generation_snake = json_fields::objectMember(root, "generation_config");
  const auto integer = [&](const boost::json::object* object, const char* key) {
    const bool gemini_count = object != root && object != nullptr;
    const boost::json::value* v = json_fields::member(object, key);
    if (proto_json && gemini_count && v != nullptr && v->is_string()) {
      return referenceStringCount(std::string_view(v->as_string()));
    }
    return json_fields::integerMember(object, key);
  };
  // Only the called API's own fields: generationConfig on a native Gemini route, else the root's.
  using Member = std::pair<const boost::json::object*, const char*>;
  const std::vector<Member> caps =
      proto_json
          ? std::vector<Member>{{generation, "maxOutputTokens"},
                                {generation, "max_output_tokens"},
                                {generation_snake, "maxOutputTokens"},
                                {generation_snake, "max_output_tokens"}}
          : std::vector<Member>{
                {root, "max_completion_tokens"}, {root, "max_tokens"}, {root, "max_output_tokens"}};
  for (const auto& [object, key] : caps) {
    // proto3 JSON: a Gemini count of 0 is unset.
    if (const auto v = integer(object, key); v && *v >= (proto_json ? 1 : 0)) {
      e.max_output_tokens = *v;
      break;
    }
  }
  const std::vector<Member> counts =
      proto_json ? std::vector<Member>{{generation, "candidateCount"},
                                       {generation, "candidate_count"},
                                       {generation_snake, "candidateCount"},
                                       {generation_snake, "candidate_count"}}
                 : std::vector<Member>{{root, "n"}};
  std::optional<std::int64_t> choices;
  for (const auto& [object, key] : counts) {
    choices = integer(object, key);
    if (choices) break;
  }
  if (const auto best_of = json_fields::integerMember(root, "best_of"); best_of && *best_of > 1) {
    choices = std::max(choices.value_or(1), *best_of);
  }
  if (choices && *choices > 1) e.choices = std::min<std::int64_t>(*choices, 128);
  return e;
}

}  // namespace spendgate::core::testing
