#include "core/usage/usage_extractor.hpp"

#include <algorithm>
#include <array>
#include <boost/json/array.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/string.hpp>
#include <cctype>

#include "core/usage/gemini_usage.hpp"
#include "core/usage/json_key_assembler.hpp"
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

// ---- OpenAI-shaped answers and stream chunks, read without building a document ---------------
//
// The common case (a chat completion with its usage, or one chunk event of its stream) is read in
// one SAX pass over the body that takes exactly what handleOpenAiChunk() takes from the document.
// Anything it does not model (an error member, a duplicate key that matters, a choice with both
// `delta` and `message`, a `delta` in a non-streamed answer, a root that is not an object, invalid
// JSON) makes it give up, and the document path handles the body as before.

class OpenAiAnswerScan {
public:
  static constexpr std::size_t max_object_size = boost::json::object::max_size();
  static constexpr std::size_t max_array_size = boost::json::array::max_size();
  static constexpr std::size_t max_key_size = boost::json::string::max_size();
  static constexpr std::size_t max_string_size = boost::json::string::max_size();

  // User-provided, so that value-initializing the handler (basic_parser's `h_()`) does not zero
  // the whole object, frames included, before the members are initialized: only frames_[0] is,
  // every deeper frame is written by open() before it is read.
  //
  // @param out receives what the body contributes (reset by the caller).
  // @param stream the body is one chunk event of a stream: a choice's `delta` is read as its
  //   `message` (an answer with a `delta` gives up, as before).
  OpenAiAnswerScan(OpenAiAnswer& out, bool stream) : answer(out), stream_(stream) {
    frames_[0] = Frame{Ctx::Ignore, 0};
  }

  OpenAiAnswer& answer;
  bool root_is_object = false;

  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }

  bool on_object_begin(boost::system::error_code& ec) { return open(true, ec); }
  bool on_array_begin(boost::system::error_code& ec) { return open(false, ec); }
  bool on_object_end(std::size_t, boost::system::error_code&) {
    --depth_;
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
  bool on_key(boost::json::string_view s, std::size_t, boost::system::error_code& ec) {
    if (!keyMatters()) return true;
    const std::string_view key = key_.finish(std::string_view(s.data(), s.size()));
    Frame& frame = frames_[depth_];
    auto [id, slot] = resolve(frame.ctx, key);
    if (id == KeyId::Delta && stream_) slot = Slot::Message;  // a chunk's choice: read alike
    pending_ = slot;
    if (id == KeyId::None) return true;
    if (slot == Slot::GiveUp) return giveUp(ec);
    const std::uint32_t bit = 1u << static_cast<unsigned>(id);
    if ((frame.seen & bit) != 0) return giveUp(ec);  // a duplicate: the last one would win
    frame.seen |= bit;
    // Both in one choice: handleOpenAiChunk() reads `delta` when it is an object, else `message`.
    if ((frame.seen & kDeltaAndMessage) == kDeltaAndMessage) return giveUp(ec);
    if (id == KeyId::InputTokens) answer.usage.has_input_tokens = true;
    if (id == KeyId::OutputTokens) answer.usage.has_output_tokens = true;
    return true;
  }

  bool on_string_part(boost::json::string_view s, std::size_t, boost::system::error_code&) {
    takeString(s);
    return true;
  }
  bool on_string(boost::json::string_view s, std::size_t, boost::system::error_code& ec) {
    takeString(s);
    return scalar(CountValue::Kind::Other, ec);
  }
  bool on_number_part(boost::json::string_view, boost::system::error_code&) { return true; }
  bool on_int64(std::int64_t i, boost::json::string_view, boost::system::error_code& ec) {
    if (CountValue* v = countSlot()) v->i = i;
    return scalar(CountValue::Kind::Int64, ec);
  }
  bool on_uint64(std::uint64_t u, boost::json::string_view, boost::system::error_code& ec) {
    if (CountValue* v = countSlot()) v->u = u;
    return scalar(CountValue::Kind::Uint64, ec);
  }
  bool on_double(double d, boost::json::string_view, boost::system::error_code& ec) {
    if (CountValue* v = countSlot()) v->d = d;
    return scalar(CountValue::Kind::Double, ec);
  }
  bool on_bool(bool, boost::system::error_code& ec) { return scalar(CountValue::Kind::Other, ec); }
  bool on_null(boost::system::error_code& ec) {
    if (pending_ == Slot::Error) {  // "error": null is no error
      pending_ = Slot::None;
      return true;
    }
    return scalar(CountValue::Kind::Null, ec);
  }
  bool on_comment_part(boost::json::string_view, boost::system::error_code&) { return true; }
  bool on_comment(boost::json::string_view, boost::system::error_code&) { return true; }

private:
  /** The containers whose members matter. */
  enum class Ctx : std::uint8_t {
    Ignore,
    Root,
    Usage,
    PromptDetails,
    CompletionDetails,
    InputDetails,
    OutputDetails,
    Choices,
    Choice,
    Message,
    ToolCalls,
    ToolCall,
    Function,  // tool_calls[].function and function_call
  };
  /** Keys that matter, for spotting duplicates (one bit each per container). */
  enum class KeyId : std::uint8_t {
    None,
    Error,
    Model,
    ServiceTier,
    Usage,
    Choices,
    PromptTokens,
    CompletionTokens,
    TotalTokens,
    InputTokens,
    OutputTokens,
    PromptDetails,
    CompletionDetails,
    InputDetails,
    OutputDetails,
    CachedTokens,
    ReasoningTokens,
    AudioTokens,
    Text,
    Message,
    Delta,
    Content,
    ReasoningContent,
    Reasoning,
    Refusal,
    ToolCalls,
    FunctionCall,
    Function,
    Arguments,  // the last: Frame::seen has a bit per key
  };
  static_assert(static_cast<unsigned>(KeyId::Arguments) < 32, "Frame::seen is 32 bits");
  static constexpr std::uint32_t kDeltaAndMessage =
      (1u << static_cast<unsigned>(KeyId::Delta)) | (1u << static_cast<unsigned>(KeyId::Message));
  /** What the next value is. */
  enum class Slot : std::uint8_t {
    None,
    GiveUp,
    Error,
    Model,
    ServiceTier,
    Usage,
    Choices,
    PromptTokens,
    CompletionTokens,
    TotalTokens,
    InputTokens,
    OutputTokens,
    PromptDetails,
    CompletionDetails,
    InputDetails,
    OutputDetails,
    PromptCached,
    InputCached,
    CompletionReasoning,
    OutputReasoning,
    PromptAudio,
    CompletionAudio,
    Text,  // counted as generated output
    Message,
    ToolCalls,
    Function,
  };
  struct Frame {  // trivial: frames_ is not filled up front
    Ctx ctx;
    std::uint32_t seen;  // one bit per KeyId seen in this container
  };
  struct Resolved {
    KeyId id;
    Slot slot;
  };

  static Resolved resolve(Ctx ctx, std::string_view key) {
    // Keys are told apart by length first: at most one comparison per key.
    const std::size_t n = key.size();
    switch (ctx) {
      case Ctx::Root:
        if (n == 5) {
          if (keyIs(key, "error")) return {KeyId::Error, Slot::Error};
          if (keyIs(key, "model")) return {KeyId::Model, Slot::Model};
          if (keyIs(key, "usage")) return {KeyId::Usage, Slot::Usage};
        } else if (n == 7) {
          if (keyIs(key, "choices")) return {KeyId::Choices, Slot::Choices};
        } else if (n == 12) {
          if (keyIs(key, "service_tier")) return {KeyId::ServiceTier, Slot::ServiceTier};
        }
        break;
      case Ctx::Usage:
        switch (n) {
          case 12:
            if (keyIs(key, "input_tokens")) return {KeyId::InputTokens, Slot::InputTokens};
            if (keyIs(key, "total_tokens")) return {KeyId::TotalTokens, Slot::TotalTokens};
            break;
          case 13:
            if (keyIs(key, "prompt_tokens")) return {KeyId::PromptTokens, Slot::PromptTokens};
            if (keyIs(key, "output_tokens")) return {KeyId::OutputTokens, Slot::OutputTokens};
            break;
          case 17:
            if (keyIs(key, "completion_tokens")) {
              return {KeyId::CompletionTokens, Slot::CompletionTokens};
            }
            break;
          case 20:
            if (keyIs(key, "input_tokens_details"))
              return {KeyId::InputDetails, Slot::InputDetails};
            break;
          case 21:
            if (keyIs(key, "prompt_tokens_details")) {
              return {KeyId::PromptDetails, Slot::PromptDetails};
            }
            if (keyIs(key, "output_tokens_details")) {
              return {KeyId::OutputDetails, Slot::OutputDetails};
            }
            break;
          case 25:
            if (keyIs(key, "completion_tokens_details")) {
              return {KeyId::CompletionDetails, Slot::CompletionDetails};
            }
            break;
          default:
            break;
        }
        break;
      case Ctx::PromptDetails:
        if (n == 13 && keyIs(key, "cached_tokens")) {
          return {KeyId::CachedTokens, Slot::PromptCached};
        }
        if (n == 12 && keyIs(key, "audio_tokens")) return {KeyId::AudioTokens, Slot::PromptAudio};
        break;
      case Ctx::InputDetails:
        if (keyIs(key, "cached_tokens")) return {KeyId::CachedTokens, Slot::InputCached};
        break;
      case Ctx::CompletionDetails:
        if (n == 16 && keyIs(key, "reasoning_tokens")) {
          return {KeyId::ReasoningTokens, Slot::CompletionReasoning};
        }
        if (n == 12 && keyIs(key, "audio_tokens")) {
          return {KeyId::AudioTokens, Slot::CompletionAudio};
        }
        break;
      case Ctx::OutputDetails:
        if (keyIs(key, "reasoning_tokens")) return {KeyId::ReasoningTokens, Slot::OutputReasoning};
        break;
      case Ctx::Choice:
        if (n == 4 && keyIs(key, "text")) return {KeyId::Text, Slot::Text};
        if (n == 7 && keyIs(key, "message")) return {KeyId::Message, Slot::Message};
        if (n == 5 && keyIs(key, "delta")) return {KeyId::Delta, Slot::GiveUp};
        break;
      case Ctx::Message:
        switch (n) {
          case 7:
            if (keyIs(key, "content")) return {KeyId::Content, Slot::Text};
            if (keyIs(key, "refusal")) return {KeyId::Refusal, Slot::Text};
            break;
          case 9:
            if (keyIs(key, "reasoning")) return {KeyId::Reasoning, Slot::Text};
            break;
          case 10:
            if (keyIs(key, "tool_calls")) return {KeyId::ToolCalls, Slot::ToolCalls};
            break;
          case 13:
            if (keyIs(key, "function_call")) return {KeyId::FunctionCall, Slot::Function};
            break;
          case 17:
            if (keyIs(key, "reasoning_content")) return {KeyId::ReasoningContent, Slot::Text};
            break;
          default:
            break;
        }
        break;
      case Ctx::ToolCall:
        if (keyIs(key, "function")) return {KeyId::Function, Slot::Function};
        break;
      case Ctx::Function:
        if (keyIs(key, "arguments")) return {KeyId::Arguments, Slot::Text};
        break;
      case Ctx::Ignore:
      case Ctx::Choices:
      case Ctx::ToolCalls:
        break;
    }
    return {KeyId::None, Slot::None};
  }

  /** Stops the scan: the document path reads the body instead. */
  bool giveUp(boost::system::error_code& ec) {
    ec = boost::json::make_error_code(boost::json::error::exception);
    return false;
  }

  bool keyMatters() const { return frames_[depth_].ctx != Ctx::Ignore; }

  /** The slot of the value that starts now: a member's, or an array element's. */
  Slot takeSlot() {
    Slot slot = pending_;
    pending_ = Slot::None;
    if (depth_ > 0) {
      const Ctx parent = frames_[depth_].ctx;
      if (parent == Ctx::Choices) slot = Slot::Message;  // a choice: see open()
      if (parent == Ctx::ToolCalls) slot = Slot::Function;
    }
    return slot;
  }

  bool open(bool is_object, boost::system::error_code& ec) {
    Ctx ctx = Ctx::Ignore;
    if (depth_ == 0) {
      if (!is_object) return giveUp(ec);  // not an object: the document path counts it bad
      root_is_object = true;
      ctx = Ctx::Root;
    } else {
      const Ctx parent = frames_[depth_].ctx;
      const Slot slot = takeSlot();
      if (slot == Slot::Error) return giveUp(ec);
      if (CountValue* v = countValue(slot)) v->kind = CountValue::Kind::Other;
      if (is_object) {
        switch (slot) {
          case Slot::Usage:
            answer.has_usage = true;
            ctx = Ctx::Usage;
            break;
          case Slot::PromptDetails:
            ctx = Ctx::PromptDetails;
            break;
          case Slot::CompletionDetails:
            ctx = Ctx::CompletionDetails;
            break;
          case Slot::InputDetails:
            ctx = Ctx::InputDetails;
            break;
          case Slot::OutputDetails:
            ctx = Ctx::OutputDetails;
            break;
          case Slot::Message:
            ctx = parent == Ctx::Choices ? Ctx::Choice : Ctx::Message;
            break;
          case Slot::Function:
            ctx = parent == Ctx::ToolCalls ? Ctx::ToolCall : Ctx::Function;
            break;
          default:
            break;
        }
      } else if (slot == Slot::Choices) {
        ctx = Ctx::Choices;
      } else if (slot == Slot::ToolCalls) {
        ctx = Ctx::ToolCalls;
      }
    }
    ++depth_;
    if (depth_ >= kMaxFrames) return giveUp(ec);  // deeper than the document path allows
    frames_[depth_] = Frame{ctx, 0};
    return true;
  }

  CountValue* countValue(Slot slot) {
    switch (slot) {
      case Slot::PromptTokens:
        return &answer.usage.prompt_tokens;
      case Slot::CompletionTokens:
        return &answer.usage.completion_tokens;
      case Slot::TotalTokens:
        return &answer.usage.total_tokens;
      case Slot::InputTokens:
        return &answer.usage.input_tokens;
      case Slot::OutputTokens:
        return &answer.usage.output_tokens;
      case Slot::PromptCached:
        return &answer.usage.prompt_cached;
      case Slot::InputCached:
        return &answer.usage.input_cached;
      case Slot::CompletionReasoning:
        return &answer.usage.completion_reasoning;
      case Slot::OutputReasoning:
        return &answer.usage.output_reasoning;
      case Slot::PromptAudio:
        return &answer.usage.prompt_audio;
      case Slot::CompletionAudio:
        return &answer.usage.completion_audio;
      default:
        return nullptr;
    }
  }

  /** The counter the pending scalar goes to, if any (not consumed). */
  CountValue* countSlot() { return countValue(pending_); }

  /** A scalar value ends: records its kind for a counter, and consumes the slot. */
  bool scalar(CountValue::Kind kind, boost::system::error_code& ec) {
    const Slot slot = takeSlot();
    if (slot == Slot::Error) return giveUp(ec);  // an error that is not null
    if (CountValue* v = countValue(slot)) v->kind = kind;
    return true;
  }

  /** A (piece of a) string for the pending slot. */
  void takeString(boost::json::string_view s) {
    switch (pending_) {
      case Slot::Text:
        answer.output_weight += UsageEstimator::weight(std::string_view(s.data(), s.size()));
        break;
      case Slot::Model:
        answer.model.append(s.data(), s.size());
        break;
      case Slot::ServiceTier:
        answer.service_tier.append(s.data(), s.size());
        break;
      default:
        break;
    }
  }

  // JsonScratch's depth limit (64) plus the root: deeper documents fail there as well.
  static constexpr std::size_t kMaxFrames = 66;

  std::array<Frame, kMaxFrames> frames_;  // [0] set by the constructor, [1, depth_] by open()
  std::size_t depth_ = 0;
  Slot pending_ = Slot::None;
  JsonKeyAssembler key_;
  bool stream_;
};

/**
 * Reads an OpenAI-shaped body (`stream`: one chunk event's data) into `out` (reset first).
 * @return false when the document path must read the body (what `out` then holds is moot).
 */
bool scanOpenAi(std::string_view body, bool stream, OpenAiAnswer& out) {
  boost::json::parse_options options;
  options.max_depth = JsonScratch::kDefaultMaxDepth;
  try {
    out.reset();
    boost::json::basic_parser<OpenAiAnswerScan> parser(options, out, stream);
    boost::system::error_code ec;
    const std::size_t used = parser.write_some(false, body.data(), body.size(), ec);
    if (ec || used != body.size()) return false;
    return parser.handler().root_is_object;  // else the document path counts it bad
  } catch (...) {
    return false;
  }
}

}  // namespace

UsageExtractor::UsageExtractor(const RequestInfo& request,
                               int http_status,
                               std::string_view content_type,
                               Limits limits)
    : request_(request),
      limits_(limits),
      success_status_(http_status >= 200 && http_status < 300),
      sse_(limits.max_event_bytes),
      array_(limits.max_event_bytes),
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
      if (body_.size() + bytes.size() > limits_.max_json_bytes) {
        body_too_large_ = true;
        std::string().swap(body_);
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
  if (mode_ == Mode::Skip) {
    UsageResult result;
    result.status = UsageStatus::NotBillable;
    result.detail = success_status_ ? "unmetered endpoint" : "upstream error status";
    out = std::move(result);
    return;
  }
  if (mode_ == Mode::Json) {
    const std::int64_t body_estimate = UsageEstimator::tokensFor(body_bytes_);
    if (body_too_large_) {
      detail_ = "response body over " + std::to_string(limits_.max_json_bytes) + " bytes";
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
    std::string().swap(body_);
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
