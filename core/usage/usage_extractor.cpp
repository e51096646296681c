#include "core/usage/usage_extractor.hpp"

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/string.hpp>
#include <cctype>

#include "core/usage/gemini_usage.hpp"
#include "core/usage/openai_answer_scan.hpp"
#include "core/usage/openai_usage.hpp"

namespace spendgate::core {

using json_fields::arrayMember;
using json_fields::CountValue;
using json_fields::member;
using json_fields::objectMember;
using json_fields::stringMember;

namespace {

bool isEventStream(std::string_view content_type) {
  constexpr std::string_view kSse = "text/event-stream";
  while (!content_type.empty() && content_type.front() == ' ') content_type.remove_prefix(1);
  if (content_type.size() < kSse.size()) return false;
  for (std::size_t i = 0; i < kSse.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(content_type[i])) != kSse[i]) return false;
  }
  return content_type.size() == kSse.size() || content_type[kSse.size()] == ';' ||
         content_type[kSse.size()] == ' ';
}

bool isOpenAiShaped(EndpointKind kind) {
  return kind == EndpointKind::ChatCompletions || kind == EndpointKind::Completions ||
         kind == EndpointKind::Embeddings;
}

bool isGemini(EndpointKind kind) {
  return kind == EndpointKind::GeminiGenerateContent ||
         kind == EndpointKind::GeminiStreamGenerateContent;
}

// A short label for an error object or string: its type, code or status, else its message.
std::string errorLabel(const boost::json::value* error) {
  if (error == nullptr) return "error";
  if (const auto* s = error->if_string()) return std::string(s->data(), s->size());
  const auto* o = error->if_object();
  // Words before numbers: Gemini's "UNAVAILABLE" says more than its code 503.
  for (const char* key : {"type", "code", "status"}) {
    if (const auto label = stringMember(o, key); !label.empty()) return std::string(label);
  }
  if (const auto code = json_fields::integerMember(o, "code")) return std::to_string(*code);
  if (const auto message = stringMember(o, "message"); !message.empty()) {
    return std::string(message.substr(0, 200));
  }
  return "error";
}

}  // namespace

UsageExtractor::UsageExtractor(const RequestInfo& request,
                               int http_status,
                               std::string_view content_type,
                               Limits limits)
    : request_(request),
      limits_(limits),
      success_status_(http_status >= 200 && http_status < 300),
      sse_(limits.max_event_bytes, limits.buffers),
      array_(limits.max_event_bytes, limits.buffers),
      body_grant_(limits.buffers),
      estimator_(request.request_body_bytes) {
  if (!success_status_ || request.kind == EndpointKind::Unmetered) {
    mode_ = Mode::Skip;
  } else if (isEventStream(content_type)) {
    mode_ = Mode::Sse;
  } else if (request.kind == EndpointKind::GeminiStreamGenerateContent) {
    mode_ = Mode::JsonArray;
  } else {
    mode_ = Mode::Json;
  }
}

void UsageExtractor::feed(std::string_view bytes) {
  switch (mode_) {
    case Mode::Skip:
      return;
    case Mode::Json:
      body_bytes_ += static_cast<std::int64_t>(bytes.size());
      if (body_too_large_) return;
      if (body_.size() + bytes.size() > limits_.max_json_bytes ||
          !body_grant_.reserveAppend(body_, bytes.size(), limits_.max_json_bytes)) {
        body_over_allowance_ = body_.size() + bytes.size() <= limits_.max_json_bytes;
        body_too_large_ = true;
        std::string().swap(body_);
        body_grant_.release();
        return;
      }
      body_.append(bytes);
      return;
    case Mode::Sse: {
      SseSink sink(*this);
      sse_.feed(bytes, sink);
      return;
    }
    case Mode::JsonArray: {
      ElementSink sink(*this);
      array_.feed(bytes, sink);
      return;
    }
  }
}

void UsageExtractor::noteError(std::string_view what) {
  upstream_error_ = true;
  if (detail_.empty()) detail_.assign(what);
}

void UsageExtractor::setModel(std::string_view model) {
  // Azure's first chunk has model "": keep the last non-empty name.
  if (!model.empty()) model_.assign(model);
}

void UsageExtractor::onSseEvent(const SseEvent& event) {
  if (event.data == "[DONE]") {
    terminal_ = true;
    return;
  }
  if (isOpenAiShaped(request_.kind) && !limits_.document_only &&
      scanOpenAi(event.data, true, scanned_)) {
    // What handleOpenAiChunk() would have done with the event's document.
    setModel(scanned_.model);
    if (!scanned_.service_tier.empty()) service_tier_.assign(scanned_.service_tier);
    if (scanned_.has_usage) {
      Usage parsed;
      parseOpenAiUsage(scanned_.usage, request_.gemini_compat, counts_, parsed);
      reported_ = parsed;
      terminal_ = true;
    }
    estimator_.addOutputWeight(scanned_.output_weight);  // already weighed
    return;
  }
  const boost::json::value* doc = json_.parse(event.data);
  const boost::json::object* object = doc != nullptr ? doc->if_object() : nullptr;
  if (object == nullptr) {
    ++bad_events_;
    return;
  }
  if (isOpenAiShaped(request_.kind)) {
    handleOpenAiChunk(*object);
  } else if (request_.kind == EndpointKind::Responses) {
    handleResponsesEvent(event.type.empty() ? stringMember(object, "type") : event.type, *object);
  } else if (request_.kind == EndpointKind::AnthropicMessages) {
    const auto type = stringMember(object, "type");
    handleAnthropicEvent(type.empty() ? event.type : type, *object);
  } else if (isGemini(request_.kind)) {
    handleGeminiChunk(*object);
  }
}

void UsageExtractor::onJsonChunk(std::string_view json) {
  const boost::json::value* doc = json_.parse(json);
  if (doc == nullptr || !doc->is_object()) {
    ++bad_events_;
    return;
  }
  handleGeminiChunk(doc->get_object());
}

void UsageExtractor::handleOpenAiChunk(const boost::json::object& chunk) {
  if (const auto* error = member(&chunk, "error"); error != nullptr && !error->is_null()) {
    noteError(errorLabel(error));
  }
  setModel(stringMember(&chunk, "model"));
  if (const auto tier = stringMember(&chunk, "service_tier"); !tier.empty()) {
    service_tier_.assign(tier);
  }
  // Every chunk but the last says "usage": null; the usage chunk (choices: []) or, on Gemini's
  // compat endpoint, the last content chunk carries the whole request's counts.
  if (const auto* usage = objectMember(&chunk, "usage")) {
    Usage parsed;
    parseOpenAiUsage(*usage, request_.gemini_compat, counts_, parsed);
    reported_ = parsed;
    terminal_ = true;
  }
  const auto* choices = arrayMember(&chunk, "choices");
  if (choices == nullptr) return;
  for (const auto& choice_value : *choices) {
    const auto* choice = choice_value.if_object();
    estimator_.addOutputText(stringMember(choice, "text"));  // legacy completions
    const auto* delta = objectMember(choice, "delta");
    if (delta == nullptr) delta = objectMember(choice, "message");
    if (delta == nullptr) continue;
    for (const char* key : {"content", "reasoning_content", "reasoning", "refusal"}) {
      estimator_.addOutputText(stringMember(delta, key));
    }
    if (const auto* calls = arrayMember(delta, "tool_calls")) {
      for (const auto& call : *calls) {
        estimator_.addOutputText(
            stringMember(objectMember(call.if_object(), "function"), "arguments"));
      }
    }
    estimator_.addOutputText(stringMember(objectMember(delta, "function_call"), "arguments"));
  }
}

void UsageExtractor::handleResponsesEvent(std::string_view type, const boost::json::object& event) {
  if (type == "error") {
    const auto* error = member(&event, "error");
    noteError(errorLabel(error != nullptr ? error : member(&event, "code")));
    return;
  }
  const auto* response = objectMember(&event, "response");
  if (response != nullptr) {
    setModel(stringMember(response, "model"));
    if (const auto tier = stringMember(response, "service_tier"); !tier.empty()) {
      service_tier_.assign(tier);
    }
  }
  if (type == "response.completed" || type == "response.incomplete" || type == "response.failed") {
    terminal_ = true;
    if (const auto* usage = objectMember(response, "usage")) {
      Usage parsed;
      parseOpenAiUsage(*usage, false, counts_, parsed);
      reported_ = parsed;
    }
    if (type == "response.failed") {
      const auto* error = member(response, "error");
      noteError(error != nullptr && !error->is_null() ? errorLabel(error) : "response.failed");
    }
    return;
  }
  if (type.size() > 6 && type.substr(type.size() - 6) == ".delta") {
    // output_text, function_call_arguments, reasoning_summary_text ... deltas
    estimator_.addOutputText(stringMember(&event, "delta"));
  }
}

void UsageExtractor::handleAnthropicEvent(std::string_view type, const boost::json::object& event) {
  if (type == "content_block_delta") {
    const auto* delta = objectMember(&event, "delta");
    for (const char* key : {"text", "partial_json", "thinking"}) {
      estimator_.addOutputText(stringMember(delta, key));
    }
  } else if (type == "message_start") {
    const auto* message = objectMember(&event, "message");
    setModel(stringMember(message, "model"));
    if (const auto* usage = objectMember(message, "usage")) {
      anthropic_.merge(*usage, counts_);
      anthropic_seen_ = true;
    }
  } else if (type == "message_delta") {
    // Cumulative: replace field by field, never add.
    if (const auto* usage = objectMember(&event, "usage")) {
      anthropic_.merge(*usage, counts_);
      anthropic_seen_ = true;
      // The delta that sets stop_reason is the message's last (an earlier one has null): its
      // counts are final even if the stream is cut before message_stop.
      if (!stringMember(objectMember(&event, "delta"), "stop_reason").empty()) terminal_ = true;
    }
  } else if (type == "message_stop") {
    terminal_ = true;
  } else if (type == "error") {
    noteError(errorLabel(member(&event, "error")));
  }
}

void UsageExtractor::handleGeminiChunk(const boost::json::object& chunk) {
  if (const auto* error = member(&chunk, "error"); error != nullptr && !error->is_null()) {
    noteError(errorLabel(error));
  }
  setModel(stringMember(&chunk, "modelVersion"));
  // Running totals: the last usageMetadata replaces the previous one.
  if (const auto* meta = objectMember(&chunk, "usageMetadata")) {
    Usage parsed;
    parseGeminiUsage(*meta, counts_, parsed);
    reported_ = parsed;
  }
  const auto* candidates = arrayMember(&chunk, "candidates");
  if (candidates == nullptr) return;
  for (const auto& candidate_value : *candidates) {
    const auto* candidate = candidate_value.if_object();
    if (!stringMember(candidate, "finishReason").empty()) terminal_ = true;
    const auto* parts = arrayMember(objectMember(candidate, "content"), "parts");
    if (parts == nullptr) continue;
    for (const auto& part : *parts)
      estimator_.addOutputText(stringMember(part.if_object(), "text"));
  }
}

void UsageExtractor::handleJsonDocument(const boost::json::value& doc) {
  if (isGemini(request_.kind)) {
    // Vertex may wrap even a single answer (or an error) in an array.
    if (const auto* items = doc.if_array()) {
      for (const auto& item : *items) {
        if (const auto* o = item.if_object()) handleGeminiChunk(*o);
      }
    } else if (const auto* o = doc.if_object()) {
      handleGeminiChunk(*o);
    }
    terminal_ = true;
    return;
  }
  const auto* object = doc.if_object();
  if (object == nullptr) {
    ++bad_events_;
    return;
  }
  terminal_ = true;
  if (isOpenAiShaped(request_.kind)) {
    handleOpenAiChunk(*object);
    return;
  }
  if (request_.kind == EndpointKind::Responses) {
    if (const auto* error = member(object, "error"); error != nullptr && !error->is_null()) {
      noteError(errorLabel(error));
    }
    setModel(stringMember(object, "model"));
    if (const auto tier = stringMember(object, "service_tier"); !tier.empty()) {
      service_tier_.assign(tier);
    }
    if (const auto* usage = objectMember(object, "usage")) {
      Usage parsed;
      parseOpenAiUsage(*usage, false, counts_, parsed);
      reported_ = parsed;
    }
    return;
  }
  if (request_.kind == EndpointKind::AnthropicMessages) {
    if (stringMember(object, "type") == "error") noteError(errorLabel(member(object, "error")));
    setModel(stringMember(object, "model"));
    if (const auto* usage = objectMember(object, "usage")) {
      anthropic_.merge(*usage, counts_);
      anthropic_seen_ = true;
    }
    if (const auto* content = arrayMember(object, "content")) {
      for (const auto& block : *content) {
        estimator_.addOutputText(stringMember(block.if_object(), "text"));
        estimator_.addOutputText(stringMember(block.if_object(), "thinking"));
      }
    }
  }
}

std::int64_t UsageExtractor::capOutputEstimate(std::int64_t tokens) const {
  // The provider bills at most max_tokens per choice (the model's maximum without one): a guess
  // from a partial or broken body (JSON overhead counted as text) must not pass that.
  if (limits_.output_tokens_bound) return std::min(tokens, *limits_.output_tokens_bound);
  if (!request_.max_output_tokens) return tokens;
  std::int64_t bound = 0;
  if (__builtin_mul_overflow(*request_.max_output_tokens,
                             std::max<std::int64_t>(request_.choices, 1), &bound)) {
    return tokens;
  }
  return std::min(tokens, bound);
}

UsageResult UsageExtractor::estimateResult(UsageStatus status, std::int64_t output_tokens) const {
  UsageResult result;
  result.status = status;
  result.estimated = true;
  result.upstream_error = upstream_error_;
  result.detail = detail_;
  result.usage.input_tokens = estimator_.inputTokens();
  result.usage.output_tokens = capOutputEstimate(output_tokens);
  result.usage.model = model_;
  result.usage.service_tier = service_tier_;
  return result;
}

void UsageExtractor::notBillableInto(UsageResult& out) const {
  UsageResult result;
  result.status = UsageStatus::NotBillable;
  result.detail = success_status_ ? "unmetered endpoint" : "upstream error status";
  out = std::move(result);
}

void UsageExtractor::estimateInto(UsageResult& out) const {
  if (mode_ == Mode::Skip) return notBillableInto(out);
  const std::int64_t seen =
      mode_ == Mode::Json ? UsageEstimator::tokensFor(body_bytes_) : estimator_.outputTokens();
  UsageResult result = estimateResult(UsageStatus::Estimated, seen);
  result.detail = "reading the usage failed; estimated from what was seen";
  if (auto so_far = reportedSoFar()) {
    // As for a stream cut short: the provider's counts are a floor, topped up with what was seen.
    result.status = UsageStatus::Partial;
    so_far->output_tokens = std::max(so_far->output_tokens, result.usage.output_tokens);
    if (so_far->input_tokens == 0) so_far->input_tokens = result.usage.input_tokens;
    if (so_far->model.empty()) so_far->model = std::move(result.usage.model);
    if (so_far->service_tier.empty()) so_far->service_tier = std::move(result.usage.service_tier);
    result.usage = std::move(*so_far);
  }
  out = std::move(result);
}

std::optional<Usage> UsageExtractor::reportedSoFar() const {
  if (anthropic_seen_) {
    json_fields::CountReader scratch;
    return anthropic_.normalized(scratch);
  }
  return reported_;
}

UsageResult UsageExtractor::finish(std::string_view rest) {
  UsageResult result;
  finishInto(rest, result);
  return result;
}

UsageResult UsageExtractor::finish() {
  UsageResult result;
  finishWith(nullptr, result);
  return result;
}

void UsageExtractor::finishInto(UsageResult& out) { finishWith(nullptr, out); }

void UsageExtractor::finishInto(std::string_view rest, UsageResult& out) {
  if (mode_ != Mode::Json || body_bytes_ != 0 || rest.size() > limits_.max_json_bytes) {
    feed(rest);
    return finishWith(nullptr, out);
  }
  body_bytes_ = static_cast<std::int64_t>(rest.size());
  finishWith(&rest, out);
}

void UsageExtractor::finishWith(const std::string_view* held, UsageResult& out) {
  if (mode_ == Mode::Skip) return notBillableInto(out);
  if (mode_ == Mode::Json) {
    // The copy goes once read, whichever way this ends, and with it its share of the allowance.
    struct DropBody {
      UsageExtractor& owner;
      ~DropBody() {
        std::string().swap(owner.body_);
        owner.body_grant_.release();
      }
    } drop_body{*this};
    const std::int64_t body_estimate = UsageEstimator::tokensFor(body_bytes_);
    if (body_too_large_) {
      detail_ =
          body_over_allowance_
              ? "response body over what the proxy may still buffer (server.max_buffered_bytes)"
              : "response body over " + std::to_string(limits_.max_json_bytes) + " bytes";
      out = estimateResult(UsageStatus::TooLarge, body_estimate);
      return;
    }
    const std::string_view body = held ? *held : std::string_view(body_);
    const bool scan = isOpenAiShaped(request_.kind) && !limits_.document_only;
    if (scan && scanOpenAi(body, false, scanned_)) {
      // What handleJsonDocument() would have done with the document.
      terminal_ = true;
      if (!scanned_.model.empty()) model_ = std::move(scanned_.model);  // setModel()
      if (!scanned_.service_tier.empty()) service_tier_ = std::move(scanned_.service_tier);
      if (scanned_.has_usage) {
        Usage parsed;
        parseOpenAiUsage(scanned_.usage, request_.gemini_compat, counts_, parsed);
        reported_ = parsed;
      }
      estimator_.addOutputWeight(scanned_.output_weight);  // already weighed
    } else {
      const boost::json::value* doc = json_.parse(body);
      if (doc == nullptr) {
        detail_ = body.empty() ? "empty response body" : "response body is not valid JSON";
        out = estimateResult(UsageStatus::Malformed, body_estimate);
        return;
      }
      handleJsonDocument(*doc);
    }
  }
  if (mode_ == Mode::JsonArray) {
    if (array_.closed()) terminal_ = true;
    if (array_.malformed() && !reported_ && detail_.empty()) {
      detail_ = "stream is not a JSON array";
      out = estimateResult(UsageStatus::Malformed, estimator_.outputTokens());
      return;
    }
  }

  if (anthropic_seen_) reported_ = anthropic_.normalized(counts_);
  if (counts_.absurd()) {
    if (detail_.empty()) detail_ = "usage counts out of range";
    out = estimateResult(UsageStatus::Absurd, estimator_.outputTokens());
    return;
  }

  if (!reported_) {
    if (upstream_error_ && estimator_.outputWeight() == 0) {
      // Failed before generating anything: nothing to bill.
      UsageResult result;
      result.status = UsageStatus::NotBillable;
      result.upstream_error = true;
      result.detail = detail_;
      result.usage.model = model_;
      out = std::move(result);
      return;
    }
    if (detail_.empty()) {
      detail_ = terminal_ ? "response carried no usage" : "stream ended before usage";
    }
    out = estimateResult(UsageStatus::Estimated, estimator_.outputTokens());
    return;
  }

  // The common case, written straight into `out`: every member assigned (the binding names
  // them all, so a member added to UsageResult stops this compiling until it is assigned here).
  auto& [usage, status, estimated, upstream_error, detail] = out;
  usage = *reported_;
  if (usage.model.empty()) usage.model = model_;
  if (usage.service_tier.empty()) usage.service_tier = service_tier_;
  upstream_error = upstream_error_;
  detail = detail_;
  estimated = false;
  const bool ended_normally = terminal_ && !(anthropic_seen_ && upstream_error_);
  if (ended_normally) {
    status = UsageStatus::Reported;
    return;
  }
  // Cut short: the provider's counts so far are a floor; top output up with what was seen.
  status = UsageStatus::Partial;
  estimated = true;
  if (detail.empty()) detail = "stream ended before its final usage";
  if (usage.input_tokens == 0) usage.input_tokens = estimator_.inputTokens();
  // The provider's own counts stand; only the top-up from what was seen is capped.
  usage.output_tokens = std::max(usage.output_tokens, capOutputEstimate(estimator_.outputTokens()));
}

}  // namespace spendgate::core
