#include "core/metering/request_classifier.hpp"

#include <algorithm>
#include <array>
#include <boost/json/array.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/string.hpp>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <utility>

#include "core/http/canonical_path.hpp"
#include "core/http/query_parameters.hpp"
#include "core/metering/request_body_json.hpp"
#include "core/text/percent_decoding.hpp"
#include "core/text/utf8.hpp"
#include "core/usage/json_fields.hpp"
#include "core/usage/json_key_assembler.hpp"

namespace spendgate::core {

std::string_view endpointKindName(EndpointKind kind) {
  switch (kind) {
    case EndpointKind::ChatCompletions:
      return "chat_completions";
    case EndpointKind::Completions:
      return "completions";
    case EndpointKind::Embeddings:
      return "embeddings";
    case EndpointKind::Responses:
      return "responses";
    case EndpointKind::AnthropicMessages:
      return "anthropic_messages";
    case EndpointKind::GeminiGenerateContent:
      return "gemini_generate_content";
    case EndpointKind::GeminiStreamGenerateContent:
      return "gemini_stream_generate_content";
    case EndpointKind::Unmetered:
      return "unmetered";
  }
  return "unmetered";
}

namespace {

bool endsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

/** A canonical path (CanonicalPath::view) without its trailing slashes. */
std::string_view withoutTrailingSlashes(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  return path;
}

EndpointKind openAiKind(std::string_view path) {
  if (endsWith(path, "/chat/completions")) return EndpointKind::ChatCompletions;
  if (endsWith(path, "/completions")) return EndpointKind::Completions;
  if (endsWith(path, "/embeddings")) return EndpointKind::Embeddings;
  if (endsWith(path, "/responses")) return EndpointKind::Responses;
  // A compaction pass: a model call billed as one, answered with usage in the Responses shape.
  if (endsWith(path, "/responses/compact")) return EndpointKind::Responses;
  return EndpointKind::Unmetered;
}

// Gemini native: ".../models/{model}:{method}" (also tunedModels/{model}).
EndpointKind geminiKind(std::string_view path, std::string& model) {
  const GeminiCall call = splitGeminiCall(path);
  const std::string_view method = call.method;
  if (call.model.empty() && method.empty()) return EndpointKind::Unmetered;  // no colon
  // The path may hold any byte from 0x80 up; a model name must be UTF-8 (ledger, JSON, labels).
  model = validUtf8(call.model);
  if (method == "generateContent") return EndpointKind::GeminiGenerateContent;
  if (method == "streamGenerateContent") return EndpointKind::GeminiStreamGenerateContent;
  // Billed at the embedding input price; the answer reports no usage, so it is estimated.
  if (method == "embedContent" || method == "batchEmbedContents") return EndpointKind::Embeddings;
  return EndpointKind::Unmetered;  // countTokens, ...
}

std::string_view azureDeployment(std::string_view path) {
  constexpr std::string_view kMarker = "/openai/deployments/";
  const auto at = path.find(kMarker);
  if (at == std::string_view::npos) return {};
  std::string_view rest = path.substr(at + kMarker.size());
  return rest.substr(0, rest.find('/'));
}

bool asciiIEquals(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    return lower(x) == lower(y);
  });
}

/** Whether `version` starts with a YYYY-MM-DD date on or after 2024-08-01. */
bool datedFromAugust2024(std::string_view version) {
  if (version.size() < 10) return false;
  for (std::size_t i = 0; i < 10; ++i) {
    const bool dash = i == 4 || i == 7;
    if (dash ? version[i] != '-' : (version[i] < '0' || version[i] > '9')) return false;
  }
  return version.substr(0, 10) >= "2024-08-01";
}

/**
 * Whether Azure's classic API at the query's api-version takes `stream_options`: from
 * 2024-08-01-preview on; an older one answers 400 "Unrecognized request argument supplied:
 * stream_options". Every api-version parameter (names match in any case, as Azure's do) must be
 * such a date: a missing or unreadable one never gets the option, since the stream works without.
 */
bool azureClassicTakesStreamOptions(std::string_view query) {
  bool dated = false;
  bool old = false;
  forEachQueryParameter(query, [&](std::string_view parameter, std::size_t, std::size_t) {
    const std::string_view name = parameter.substr(0, parameter.find('='));
    if (!asciiIEquals(percentDecoded(name), "api-version")) return true;
    const std::string_view value =
        name.size() < parameter.size() ? parameter.substr(name.size() + 1) : std::string_view{};
    old = !datedFromAugust2024(percentDecoded(value));
    dated = true;
    return !old;
  });
  return dated && !old;
}

// ---- The body, read without building a document ----------------------------------------------
//
// Only a handful of members matter (model, stream, background, stream_options.include_usage,
// service_tier, the output caps, n, best_of, generationConfig.{maxOutputTokens,candidateCount} in
// either spelling), and request bodies can be large (conversations, tool schemas). A SAX handler
// over Boost.JSON's basic_parser picks them out with the same rules the document view had: the body
// must be exactly one valid JSON value (same options: max depth kRequestBodyMaxDepth, strict JSON,
// UTF-8 checked; a leading BOM skipped) or nothing counts; the root must be an object; of duplicate
// keys the last one wins; a member of the wrong type reads as absent.

enum class Field : std::uint8_t {
  None,
  Model,
  Stream,
  Background,  // Responses: the run goes on at the provider after the answer
  StreamOptions,
  ServiceTier,
  GenerationConfig,       // "generationConfig"
  GenerationConfigSnake,  // "generation_config"
  MaxCompletionTokens,
  MaxTokens,
  MaxOutputTokens,
  N,
  BestOf,
  IncludeUsage,  // in stream_options
  // Gemini's REST API takes proto field names in lowerCamelCase or snake_case, object and member
  // alike, so there are four spellings of each. Each is kept apart and read in a fixed order
  // (camelCase first), not "last in the body", when a body mixes them.
  GcMaxOutputTokens,            // generationConfig.maxOutputTokens
  GcMaxOutputTokensSnake,       // generationConfig.max_output_tokens
  GcCandidateCount,             // generationConfig.candidateCount
  GcCandidateCountSnake,        // generationConfig.candidate_count
  GcSnakeMaxOutputTokens,       // generation_config.maxOutputTokens
  GcSnakeMaxOutputTokensSnake,  // generation_config.max_output_tokens
  GcSnakeCandidateCount,        // generation_config.candidateCount
  GcSnakeCandidateCountSnake,   // generation_config.candidate_count
  Count,
};

/** One scalar member as the document view would have seen it. */
struct Scalar {
  enum class Kind : std::uint8_t { Absent, String, Bool, Number, Other };
  Kind kind = Kind::Absent;
  bool b = false;
  json_fields::CountValue number;  // when kind == Number

  std::optional<bool> asBool() const {
    if (kind == Kind::Bool) return b;
    return std::nullopt;
  }

  /** json_fields::integerMember: an exact integer that fits int64, else nullopt. */
  std::optional<std::int64_t> asInteger() const {
    if (kind == Kind::Number) return number.integer();
    return std::nullopt;
  }
};

/** Gemini's integer members in generationConfig, which proto3 JSON also takes as strings. */
bool isGeminiCount(Field field) {
  return field >= Field::GcMaxOutputTokens && field <= Field::GcSnakeCandidateCountSnake;
}

/**
 * The number a proto3 JSON string holds, as protobuf's own parser reads one (absl::SimpleAtoi,
 * else SimpleAtod): surrounding ASCII blanks and a '+' allowed, "8.0" and "8e0" too. Whether it is
 * a whole number that fits is CountValue::integer's call. nullopt when it is no number.
 */
std::optional<json_fields::CountValue> protoJsonNumber(std::string_view text) {
  constexpr std::string_view kBlanks = " \t\n\v\f\r";
  const auto first = text.find_first_not_of(kBlanks);
  if (first == std::string_view::npos) return std::nullopt;
  text = text.substr(first, text.find_last_not_of(kBlanks) - first + 1);
  if (text.front() == '+') {
    text.remove_prefix(1);
    if (text.empty() || text.front() == '+' || text.front() == '-') return std::nullopt;
  }
  json_fields::CountValue value;
  const char* const end = text.data() + text.size();
  if (auto [p, ec] = std::from_chars(text.data(), end, value.i); ec == std::errc{} && p == end) {
    value.kind = json_fields::CountValue::Kind::Int64;
    return value;
  }
  const auto [p, ec] = std::from_chars(text.data(), end, value.d);
  if (p != end || (ec != std::errc{} && ec != std::errc::result_out_of_range)) return std::nullopt;
  // Out of double's range: a number, but none that fits (integer() then says nullopt).
  if (ec == std::errc::result_out_of_range) value.d = std::numeric_limits<double>::infinity();
  value.kind = json_fields::CountValue::Kind::Double;
  return value;
}

struct BodyFields {
  bool is_object = false;
  std::string model;
  std::string service_tier;
  std::array<Scalar, static_cast<std::size_t>(Field::Count)> values{};

  Scalar& at(Field f) { return values[static_cast<std::size_t>(f)]; }
  const Scalar& at(Field f) const { return values[static_cast<std::size_t>(f)]; }
};

Field rootField(std::string_view key) {
  switch (key.size()) {
    case 1:
      return keyIs(key, "n") ? Field::N : Field::None;
    case 5:
      return keyIs(key, "model") ? Field::Model : Field::None;
    case 6:
      return keyIs(key, "stream") ? Field::Stream : Field::None;
    case 7:
      return keyIs(key, "best_of") ? Field::BestOf : Field::None;
    case 10:
      if (keyIs(key, "max_tokens")) return Field::MaxTokens;
      return keyIs(key, "background") ? Field::Background : Field::None;
    case 12:
      return keyIs(key, "service_tier") ? Field::ServiceTier : Field::None;
    case 14:
      return keyIs(key, "stream_options") ? Field::StreamOptions : Field::None;
    case 16:
      return keyIs(key, "generationConfig") ? Field::GenerationConfig : Field::None;
    case 17:
      if (keyIs(key, "max_output_tokens")) return Field::MaxOutputTokens;
      return keyIs(key, "generation_config") ? Field::GenerationConfigSnake : Field::None;
    case 21:
      return keyIs(key, "max_completion_tokens") ? Field::MaxCompletionTokens : Field::None;
    default:
      return Field::None;
  }
}

Field childField(Field parent, std::string_view key) {
  if (parent == Field::StreamOptions) {
    return keyIs(key, "include_usage") ? Field::IncludeUsage : Field::None;
  }
  if (parent == Field::GenerationConfig) {
    if (keyIs(key, "maxOutputTokens")) return Field::GcMaxOutputTokens;
    if (keyIs(key, "max_output_tokens")) return Field::GcMaxOutputTokensSnake;
    if (keyIs(key, "candidateCount")) return Field::GcCandidateCount;
    if (keyIs(key, "candidate_count")) return Field::GcCandidateCountSnake;
  }
  if (parent == Field::GenerationConfigSnake) {
    if (keyIs(key, "maxOutputTokens")) return Field::GcSnakeMaxOutputTokens;
    if (keyIs(key, "max_output_tokens")) return Field::GcSnakeMaxOutputTokensSnake;
    if (keyIs(key, "candidateCount")) return Field::GcSnakeCandidateCount;
    if (keyIs(key, "candidate_count")) return Field::GcSnakeCandidateCountSnake;
  }
  return Field::None;
}

/** Root members whose value is an object with members that matter. */
bool isParentField(Field field) {
  return field == Field::StreamOptions || field == Field::GenerationConfig ||
         field == Field::GenerationConfigSnake;
}

/** The members read inside `parent` (empty for other fields). */
std::span<const Field> childrenOf(Field parent) {
  static constexpr Field kStreamOptions[] = {Field::IncludeUsage};
  static constexpr Field kGenerationConfig[] = {
      Field::GcMaxOutputTokens, Field::GcMaxOutputTokensSnake, Field::GcCandidateCount,
      Field::GcCandidateCountSnake};
  static constexpr Field kGenerationConfigSnake[] = {
      Field::GcSnakeMaxOutputTokens, Field::GcSnakeMaxOutputTokensSnake,
      Field::GcSnakeCandidateCount, Field::GcSnakeCandidateCountSnake};
  switch (parent) {
    case Field::StreamOptions:
      return kStreamOptions;
    case Field::GenerationConfig:
      return kGenerationConfig;
    case Field::GenerationConfigSnake:
      return kGenerationConfigSnake;
    default:
      return {};
  }
}

class BodyHandler {
public:
  static constexpr std::size_t max_object_size = boost::json::object::max_size();
  static constexpr std::size_t max_array_size = boost::json::array::max_size();
  static constexpr std::size_t max_key_size = boost::json::string::max_size();
  static constexpr std::size_t max_string_size = boost::json::string::max_size();

  /**
   * Writes straight into the caller's `fields` (no copy of the value slots afterwards).
   * @param proto_json Gemini: its counts may be strings that spell a number ("8"), as the proto3
   *        JSON mapping its REST API reads allows; OpenAI and Anthropic refuse such a string.
   */
  BodyHandler(BodyFields& fields, bool proto_json) : fields(fields), proto_json_(proto_json) {}

  BodyFields& fields;

  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }

  bool on_object_begin(boost::system::error_code&) {
    if (depth_ == 0) fields.is_object = true;
    if (depth_ == 1 && isParentField(pending_)) {
      fields.at(pending_).kind = Scalar::Kind::Other;  // "an object": its members are read
      parent_ = pending_;
    } else {
      valueOther();
      if (depth_ == 1) parent_ = Field::None;
    }
    pending_ = Field::None;
    ++depth_;
    return true;
  }
  bool on_object_end(std::size_t, boost::system::error_code&) {
    --depth_;
    return true;
  }
  bool on_array_begin(boost::system::error_code&) {
    valueOther();
    if (depth_ == 1) parent_ = Field::None;
    pending_ = Field::None;
    ++depth_;
    return true;
  }
  bool on_array_end(std::size_t, boost::system::error_code&) {
    --depth_;
    return true;
  }

  bool on_key_part(boost::json::string_view s, std::size_t, boost::system::error_code&) {
    if (keyMatters()) key_.part(std::string_view(s.data(), s.size()));
    return true;
  }
  bool on_key(boost::json::string_view s, std::size_t, boost::system::error_code&) {
    if (!keyMatters()) return true;
    const std::string_view key = key_.finish(std::string_view(s.data(), s.size()));
    pending_ = depth_ == 1 ? rootField(key) : childField(parent_, key);
    if (pending_ != Field::None) {
      // A later duplicate replaces the earlier member, whatever its type.
      fields.at(pending_) = Scalar{};
      if (pending_ == Field::Model) fields.model.clear();
      if (pending_ == Field::ServiceTier) fields.service_tier.clear();
      for (const Field child : childrenOf(pending_)) fields.at(child) = Scalar{};
    }
    return true;
  }

  bool on_string_part(boost::json::string_view s, std::size_t, boost::system::error_code&) {
    if (std::string* text = pendingText()) text->append(s.data(), s.size());
    return true;
  }
  bool on_string(boost::json::string_view s, std::size_t, boost::system::error_code&) {
    if (std::string* text = pendingText()) {
      text->append(s.data(), s.size());
      Scalar& value = fields.at(pending_);
      value.kind = Scalar::Kind::String;
      if (isGeminiCount(pending_)) {
        if (const auto number = proto_json_ ? protoJsonNumber(*text) : std::nullopt) {
          value.kind = Scalar::Kind::Number;
          value.number = *number;
        }
        text->clear();
      }
    } else {
      valueOther();
    }
    pending_ = Field::None;
    return true;
  }
  bool on_number_part(boost::json::string_view, boost::system::error_code&) { return true; }
  bool on_int64(std::int64_t i, boost::json::string_view, boost::system::error_code&) {
    if (Scalar* v = pendingValue()) {
      v->kind = Scalar::Kind::Number;
      v->number.kind = json_fields::CountValue::Kind::Int64;
      v->number.i = i;
    }
    return true;
  }
  bool on_uint64(std::uint64_t u, boost::json::string_view, boost::system::error_code&) {
    if (Scalar* v = pendingValue()) {
      v->kind = Scalar::Kind::Number;
      v->number.kind = json_fields::CountValue::Kind::Uint64;
      v->number.u = u;
    }
    return true;
  }
  bool on_double(double d, boost::json::string_view, boost::system::error_code&) {
    if (Scalar* v = pendingValue()) {
      v->kind = Scalar::Kind::Number;
      v->number.kind = json_fields::CountValue::Kind::Double;
      v->number.d = d;
    }
    return true;
  }
  bool on_bool(bool b, boost::system::error_code&) {
    if (Scalar* v = pendingValue()) {
      v->kind = Scalar::Kind::Bool;
      v->b = b;
    }
    return true;
  }
  bool on_null(boost::system::error_code&) {
    valueOther();
    pending_ = Field::None;
    return true;
  }
  bool on_comment_part(boost::json::string_view, boost::system::error_code&) { return true; }
  bool on_comment(boost::json::string_view, boost::system::error_code&) { return true; }

private:
  /** Keys of the root object, and of stream_options / generationConfig / generation_config. */
  bool keyMatters() const {
    return fields.is_object && (depth_ == 1 || (depth_ == 2 && parent_ != Field::None));
  }

  std::string* pendingText() {
    if (pending_ == Field::None) return nullptr;  // most strings: one test
    if (pending_ == Field::Model) return &fields.model;
    if (pending_ == Field::ServiceTier) return &fields.service_tier;
    if (isGeminiCount(pending_)) return &count_text_;
    return nullptr;
  }

  /** The member the next number or bool belongs to (consumed), or nullptr. */
  Scalar* pendingValue() {
    const Field field = pending_;
    if (field == Field::None) return nullptr;
    pending_ = Field::None;
    Scalar& value = fields.at(field);
    if (field == Field::Model || field == Field::ServiceTier || isParentField(field)) {
      value.kind = Scalar::Kind::Other;  // not a string / not an object: reads as absent
      return nullptr;
    }
    return &value;
  }

  /** The pending member's value is of a type that reads as absent. */
  void valueOther() {
    if (pending_ != Field::None) fields.at(pending_).kind = Scalar::Kind::Other;
  }

  bool proto_json_;
  std::size_t depth_ = 0;
  Field pending_ = Field::None;  // the member whose value comes next
  Field parent_ = Field::None;   // the object at depth 2, if it is one whose members matter
  std::string count_text_;       // a Gemini count's string value, while it arrives in parts
  JsonKeyAssembler key_;
};

/**
 * Reads the members that matter into `fields` (default-constructed), or leaves nothing there
 * (is_object false) if `body` is not valid JSON. `proto_json`: see BodyHandler.
 */
void scanBody(std::string_view body, bool proto_json, BodyFields& fields) {
  boost::json::parse_options options;
  options.max_depth = kRequestBodyMaxDepth;  // tool schemas nest deeply
  body = withoutUtf8Bom(body);
  try {
    boost::json::basic_parser<BodyHandler> parser(options, fields, proto_json);
    boost::system::error_code ec;
    const std::size_t used = parser.write_some(false, body.data(), body.size(), ec);
    if (ec || used != body.size()) fields = BodyFields{};  // invalid, incomplete, or more than one
  } catch (...) {  // allocation failure: read as "not JSON", as the document parse did
    fields = BodyFields{};
  }
}

}  // namespace

GeminiCall splitGeminiCall(std::string_view path) {
  const auto slash = path.rfind('/');
  const std::string_view last = slash == std::string_view::npos ? path : path.substr(slash + 1);
  const auto colon = last.find(':');
  if (colon == std::string_view::npos) return {};
  return {last.substr(0, colon), last.substr(colon + 1)};
}

bool isOpenAiCompatibleGeminiPath(ProviderFormat format, std::string_view path) {
  path = path.substr(0, path.find('?'));
  return path.find("/openai/") != std::string_view::npos &&
         (format == ProviderFormat::Gemini ||
          path.find("/v1beta/openai/") != std::string_view::npos);
}

bool isOpenAiCompatibleAnthropicPath(ProviderFormat format, std::string_view path) {
  return format == ProviderFormat::Anthropic &&
         endsWith(withoutTrailingSlashes(path.substr(0, path.find('?'))), "/chat/completions");
}

bool isOpenAiCompatiblePath(ProviderFormat format, std::string_view path) {
  return isOpenAiCompatibleGeminiPath(format, path) ||
         isOpenAiCompatibleAnthropicPath(format, path);
}

namespace {

std::string_view outputCapName(Field field) {
  switch (field) {
    case Field::MaxCompletionTokens:
      return "max_completion_tokens";
    case Field::MaxTokens:
      return "max_tokens";
    case Field::MaxOutputTokens:
      return "max_output_tokens";
    case Field::GcMaxOutputTokens:
      return "generationConfig.maxOutputTokens";
    case Field::GcMaxOutputTokensSnake:
      return "generationConfig.max_output_tokens";
    case Field::GcSnakeMaxOutputTokens:
      return "generation_config.maxOutputTokens";
    case Field::GcSnakeMaxOutputTokensSnake:
      return "generation_config.max_output_tokens";
    default:
      return {};
  }
}

/** The output cap each endpoint documents, for a request that set none. */
std::string_view defaultOutputCapField(EndpointKind kind) {
  switch (kind) {
    case EndpointKind::ChatCompletions:
      return "max_completion_tokens";
    case EndpointKind::Completions:
    case EndpointKind::AnthropicMessages:
      return "max_tokens";
    case EndpointKind::Responses:
      return "max_output_tokens";
    case EndpointKind::GeminiGenerateContent:
    case EndpointKind::GeminiStreamGenerateContent:
      return "generationConfig.maxOutputTokens";
    default:
      return {};
  }
}

/** The endpoint kind of a normalized path; a Gemini native path also names its model. */
EndpointKind kindOf(ProviderFormat format, std::string_view path, std::string& path_model) {
  switch (format) {
    case ProviderFormat::Anthropic:
      if (isOpenAiCompatibleAnthropicPath(format, path)) return EndpointKind::ChatCompletions;
      return endsWith(path, "/messages") ? EndpointKind::AnthropicMessages
                                         : EndpointKind::Unmetered;
    case ProviderFormat::Gemini:
      return isOpenAiCompatibleGeminiPath(format, path) ? openAiKind(path)
                                                        : geminiKind(path, path_model);
    case ProviderFormat::OpenAI:
    case ProviderFormat::Azure:
      return openAiKind(path);
  }
  return EndpointKind::Unmetered;
}

}  // namespace

bool methodMayBill(std::string_view method) {
  // Methods are case-sensitive (RFC 9110 §9.1): "get" is not GET, and is read as a call.
  return method != "GET" && method != "HEAD" && method != "OPTIONS";
}

EndpointKind endpointKind(ProviderFormat format, std::string_view path) {
  return endpointKind(format, CanonicalPath(path));
}

EndpointKind endpointKind(ProviderFormat format, const CanonicalPath& path) {
  std::string path_model;
  return kindOf(format, withoutTrailingSlashes(path.view()), path_model);
}

RequestInfo classifyRequest(ProviderFormat format,
                            std::string_view path,
                            std::string_view query,
                            std::string_view body,
                            const DeploymentMap& deployments) {
  // Read as the most lenient upstream reads it ("%3A" is ':'), so no spelling escapes metering.
  return classifyRequest(format, CanonicalPath(path), query, body, deployments);
}

RequestInfo classifyRequest(ProviderFormat format,
                            const CanonicalPath& canonical,
                            std::string_view query,
                            std::string_view body,
                            const DeploymentMap& deployments) {
  // Gemini's alt=sse only changes the framing, which the response content-type reveals; Azure's
  // api-version decides below whether a stream may be given stream_options.
  RequestInfo info;
  info.format = format;
  info.request_body_bytes = static_cast<std::int64_t>(body.size());
  const std::string_view path = withoutTrailingSlashes(canonical.view());

  std::string path_model;
  info.kind = kindOf(format, path, path_model);
  info.gemini_compat = isOpenAiCompatibleGeminiPath(format, path);
  if (info.kind == EndpointKind::GeminiStreamGenerateContent) info.stream = true;

  // The request body: every field is optional, and a non-JSON body is not an error here.
  BodyFields fields;
  // Gemini reads proto3 JSON, where a count may be a string ("8"); OpenAI and Anthropic refuse one,
  // and Gemini's OpenAI-compatible API reads OpenAI's shape.
  const bool proto_json = format == ProviderFormat::Gemini && !info.gemini_compat;
  if (!body.empty()) scanBody(body, proto_json, fields);
  info.body_is_json = fields.is_object;

  info.requested_model = std::move(fields.model);
  if (info.gemini_compat && info.requested_model.starts_with("models/")) {
    // The id /v1beta/openai/models lists, named as a native path names it ("models/x" -> "x"),
    // so budgets and rate limits match it the same. The body goes upstream unchanged.
    info.requested_model.erase(0, std::string_view("models/").size());
  }
  const std::string_view deployment = azureDeployment(path);
  const bool native_gemini = format == ProviderFormat::Gemini && !info.gemini_compat;
  info.model_from_body =
      info.kind != EndpointKind::Unmetered && !native_gemini && deployment.empty();
  if (!path_model.empty()) {
    // Gemini names the model in the path ("models/gemini-2.5-flash" -> "gemini-2.5-flash").
    info.requested_model = path_model;
  }
  if (!deployment.empty()) {
    info.azure_deployment = validUtf8(deployment);
    if (const auto it = deployments.find(info.azure_deployment); it != deployments.end()) {
      info.requested_model = it->second;
    } else if (info.requested_model.empty()) {
      info.requested_model = info.azure_deployment;
    }
  } else if (format == ProviderFormat::Azure && !info.requested_model.empty()) {
    // Azure's v1 API (/openai/v1/...) has no deployment in the path: the body's model names it.
    info.azure_deployment = info.requested_model;
    if (const auto it = deployments.find(info.azure_deployment); it != deployments.end()) {
      info.requested_model = it->second;
    }
  }

  if (fields.at(Field::Stream).asBool().value_or(false)) info.stream = true;
  info.background = fields.at(Field::Background).asBool().value_or(false);
  info.include_usage_requested = fields.at(Field::IncludeUsage).asBool().value_or(false);
  info.service_tier = std::move(fields.service_tier);

  // Only the fields the called API reads bound the request: a field another API would read (a
  // generationConfig on an OpenAI route, `max_tokens` or `n` on a native Gemini one) is ignored
  // or refused upstream, so it must not lower the bound here.
  static constexpr Field kTopLevelCaps[] = {Field::MaxCompletionTokens, Field::MaxTokens,
                                            Field::MaxOutputTokens};
  static constexpr Field kGeminiCaps[] = {Field::GcMaxOutputTokens, Field::GcMaxOutputTokensSnake,
                                          Field::GcSnakeMaxOutputTokens,
                                          Field::GcSnakeMaxOutputTokensSnake};
  static constexpr Field kTopLevelChoices[] = {Field::N};
  static constexpr Field kGeminiChoices[] = {Field::GcCandidateCount, Field::GcCandidateCountSnake,
                                             Field::GcSnakeCandidateCount,
                                             Field::GcSnakeCandidateCountSnake};
  // Native Gemini reads proto3 JSON, where 0 is the unset default: maxOutputTokens 0 is no cap
  // (the model's maximum), as candidateCount 0 is one candidate.
  const std::int64_t least_cap = native_gemini ? 1 : 0;
  for (const Field field : native_gemini ? std::span<const Field>(kGeminiCaps)
                                         : std::span<const Field>(kTopLevelCaps)) {
    if (const auto v = fields.at(field).asInteger(); v && *v >= least_cap) {
      info.max_output_tokens = *v;
      info.output_cap_field = outputCapName(field);
      break;
    }
  }
  // A compaction takes no output cap: advice to set one would be refused upstream.
  if (info.output_cap_field.empty() && !endsWith(path, "/responses/compact")) {
    info.output_cap_field = defaultOutputCapField(info.kind);
  }
  std::optional<std::int64_t> choices;
  for (const Field field : native_gemini ? std::span<const Field>(kGeminiChoices)
                                         : std::span<const Field>(kTopLevelChoices)) {
    choices = fields.at(field).asInteger();
    if (choices) break;
  }
  // Legacy completions generate best_of candidates server-side and bill every one, whatever n.
  if (const auto best_of = fields.at(Field::BestOf).asInteger(); best_of && *best_of > 1) {
    choices = std::max(choices.value_or(1), *best_of);
  }
  // The APIs cap n at 128; a larger value is refused upstream, so it never needs a bigger bound.
  if (choices && *choices > 1) info.choices = std::min<std::int64_t>(*choices, 128);

  // Without a model the price is unknown, so is the worst case: nothing bounds the request.
  if (info.kind != EndpointKind::Unmetered) {
    if (info.model_from_body && !info.body_is_json) {
      info.model_problem = ModelProblem::UnreadableBody;
    } else if (info.requested_model.empty()) {
      info.model_problem = ModelProblem::NoModel;
    }
  }

  info.needs_usage_injection =
      (info.kind == EndpointKind::ChatCompletions || info.kind == EndpointKind::Completions) &&
      info.stream && !info.include_usage_requested && info.body_is_json &&
      (format != ProviderFormat::Azure || deployment.empty() ||
       azureClassicTakesStreamOptions(query));
  return info;
}

}  // namespace spendgate::core
