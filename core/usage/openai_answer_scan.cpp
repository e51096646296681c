// The one-pass scans of OpenAI-shaped answers and chunk events (openai_answer_scan.hpp). The only
// file that includes simdjson.h (a very large header).
#include "core/usage/openai_answer_scan.hpp"

#include <simdjson.h>

#include <array>
#include <boost/json/array.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/detail/utf8.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/string.hpp>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <vector>

#include "core/usage/json_key_assembler.hpp"
#include "core/usage/json_scratch.hpp"
#include "core/usage/usage_estimator.hpp"

namespace spendgate::core {

using json_fields::CountValue;

namespace {

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
    pending_ = keySlot(answer, frame.ctx, key, stream_, frame.seen);
    return pending_ != Slot::GiveUp || giveUp(ec);
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
  friend class AnswerWalk;  // the fast paths: the same keys, slots and containers
  friend class PlainScan;

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

  /** The context of an object or array that fills `slot` in a container with context `parent`. */
  /**
   * A key met in a container with context `ctx` whose keys met so far are `seen` (updated): the
   * slot its value fills (Slot::None for a key that does not matter), or Slot::GiveUp where every
   * scan gives up: a `delta` in an answer, a key met twice (the last one would win), `delta` and
   * `message` in one choice (handleOpenAiChunk() reads `delta` when it is an object, else
   * `message`). In a stream a choice's `delta` is read as its `message`.
   */
  static Slot keySlot(
      OpenAiAnswer& answer, Ctx ctx, std::string_view key, bool stream, std::uint32_t& seen) {
    auto [id, slot] = resolve(ctx, key);
    if (id == KeyId::None) return Slot::None;
    if (id == KeyId::Delta && stream) slot = Slot::Message;  // a chunk's choice: read alike
    if (slot == Slot::GiveUp) return slot;
    const std::uint32_t bit = 1u << static_cast<unsigned>(id);
    if ((seen & bit) != 0) return Slot::GiveUp;
    seen |= bit;
    if ((seen & kDeltaAndMessage) == kDeltaAndMessage) return Slot::GiveUp;
    if (id == KeyId::InputTokens) answer.usage.has_input_tokens = true;
    if (id == KeyId::OutputTokens) answer.usage.has_output_tokens = true;
    return slot;
  }

  /** The text of (a piece of) a string filling `slot`: what the answer keeps of it, if anything. */
  static void takeText(OpenAiAnswer& answer, Slot slot, std::string_view s) {
    switch (slot) {
      case Slot::Text:
        answer.output_weight += UsageEstimator::weight(s);
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

  static Ctx containerCtx(bool is_object, Slot slot, Ctx parent) {
    if (is_object) {
      switch (slot) {
        case Slot::Usage:
          return Ctx::Usage;
        case Slot::PromptDetails:
          return Ctx::PromptDetails;
        case Slot::CompletionDetails:
          return Ctx::CompletionDetails;
        case Slot::InputDetails:
          return Ctx::InputDetails;
        case Slot::OutputDetails:
          return Ctx::OutputDetails;
        case Slot::Message:
          return parent == Ctx::Choices ? Ctx::Choice : Ctx::Message;
        case Slot::Function:
          return parent == Ctx::ToolCalls ? Ctx::ToolCall : Ctx::Function;
        default:
          return Ctx::Ignore;
      }
    }
    if (slot == Slot::Choices) return Ctx::Choices;
    if (slot == Slot::ToolCalls) return Ctx::ToolCalls;
    return Ctx::Ignore;
  }

  /** The slot an element of an array with context `ctx` fills (else the pending one). */
  static Slot elementSlot(Ctx ctx, Slot pending) {
    if (ctx == Ctx::Choices) return Slot::Message;  // a choice: see open()
    if (ctx == Ctx::ToolCalls) return Slot::Function;
    return pending;
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
      if (is_object && slot == Slot::Usage) answer.has_usage = true;
      ctx = containerCtx(is_object, slot, parent);
    }
    ++depth_;
    if (depth_ >= kMaxFrames) return giveUp(ec);  // deeper than the document path allows
    frames_[depth_] = Frame{ctx, 0};
    return true;
  }

  CountValue* countValue(Slot slot) { return countValue(answer, slot); }

  static CountValue* countValue(OpenAiAnswer& answer, Slot slot) {
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
    takeText(answer, pending_, std::string_view(s.data(), s.size()));
  }

  // JsonScratch's depth limit (64) plus the root: deeper documents fail there as well.
  static constexpr std::size_t kMaxFrames = 66;

  std::array<Frame, kMaxFrames> frames_;  // [0] set by the constructor, [1, depth_] by open()
  std::size_t depth_ = 0;
  Slot pending_ = Slot::None;
  JsonKeyAssembler key_;
  bool stream_;
};

// ---- simdjson: the document parsed, then the members that matter looked up ----------------------

namespace dom = simdjson::dom;

/**
 * simdjson's depth limit for the fast path, well under the SAX scan's (JsonScratch's 64): a body
 * simdjson takes is then never one the SAX scan gives up for its depth, and a deeper one is left
 * to the SAX scan (NotRead).
 */
constexpr std::size_t kFastMaxDepth = 32;

/**
 * @return true when a number of the parsed document is a double equal to zero. Boost.JSON refuses
 * a number whose exponent does not fit an int (`1e-9999999999`, error::exponent_overflow) where
 * simdjson reads 0 (a positive one is infinite, which simdjson refuses too): such a body is left to
 * the SAX scan, with every other zero double (`0.0`, `-0`, `1e-400`; rare in an answer). The
 * tape holds every value of the document, those of members nobody reads included, in order: one
 * word each, two for a number (its type, then its bits).
 */
bool hasZeroDouble(const dom::document& doc) {
  const std::uint64_t* tape = doc.tape.get();
  const std::uint64_t end = tape[0] & simdjson::internal::JSON_VALUE_MASK;  // the closing root
  for (std::uint64_t i = 1; i < end; ++i) {
    const auto type = static_cast<char>(tape[i] >> 56);
    if (type == 'd') {
      double d;
      std::memcpy(&d, &tape[i + 1], sizeof d);
      if (d == 0) return true;
      ++i;
    } else if (type == 'l' || type == 'u') {
      ++i;
    }
  }
  return false;
}

/** A thread's parser and padded input buffer, both kept with their capacity. */
struct FastParser {
  dom::parser parser{kOpenAiAnswerFastBytes};  // max_capacity: never grows past the limit
  std::vector<char> padded;
  bool ready = false;
};

/**
 * Walks what matters of a parsed non-streamed answer, in document order, as OpenAiAnswerScan's
 * events would see it: the same keys, duplicate checks, slots, containers and give-ups.
 */
class AnswerWalk {
  using Scan = OpenAiAnswerScan;
  using Ctx = Scan::Ctx;
  using Slot = Scan::Slot;

public:
  explicit AnswerWalk(OpenAiAnswer& answer) : answer_(answer) {}

  FastScan root(dom::object object) { return this->object(object, Ctx::Root); }

private:
  FastScan object(dom::object object, Ctx ctx) {
    std::uint32_t seen = 0;
    for (const dom::key_value_pair field : object) {
      const Slot slot = Scan::keySlot(answer_, ctx, field.key, false, seen);
      if (slot == Slot::None) continue;  // its value is skipped as the SAX scan skips it
      if (slot == Slot::GiveUp) return FastScan::GiveUp;
      if (const FastScan r = value(field.value, slot, ctx); r != FastScan::Answer) return r;
    }
    return FastScan::Answer;
  }

  FastScan array(dom::array array, Ctx ctx) {
    const Slot slot = Scan::elementSlot(ctx, Slot::None);
    for (const dom::element element : array) {
      if (const FastScan r = value(element, slot, ctx); r != FastScan::Answer) return r;
    }
    return FastScan::Answer;
  }

  /** A value that fills `slot` in a container with context `parent`. */
  FastScan value(dom::element v, Slot slot, Ctx parent) {
    const dom::element_type type = v.type();
    if (slot == Slot::Error) {  // "error": null is no error, anything else gives up
      return type == dom::element_type::NULL_VALUE ? FastScan::Answer : FastScan::GiveUp;
    }
    CountValue* count = Scan::countValue(answer_, slot);
    switch (type) {
      case dom::element_type::OBJECT:
      case dom::element_type::ARRAY: {
        if (count != nullptr) count->kind = CountValue::Kind::Other;
        const bool is_object = type == dom::element_type::OBJECT;
        if (is_object && slot == Slot::Usage) answer_.has_usage = true;
        const Ctx ctx = Scan::containerCtx(is_object, slot, parent);
        if (ctx == Ctx::Ignore) return FastScan::Answer;  // nothing in it matters
        return is_object ? object(v.get_object().value_unsafe(), ctx)
                         : array(v.get_array().value_unsafe(), ctx);
      }
      case dom::element_type::STRING: {
        Scan::takeText(answer_, slot, v.get_string().value_unsafe());
        if (count != nullptr) count->kind = CountValue::Kind::Other;
        return FastScan::Answer;
      }
      case dom::element_type::INT64:
        if (count != nullptr) {
          count->i = v.get_int64().value_unsafe();
          count->kind = CountValue::Kind::Int64;
        }
        return FastScan::Answer;
      case dom::element_type::UINT64:
        if (count != nullptr) {
          count->u = v.get_uint64().value_unsafe();
          count->kind = CountValue::Kind::Uint64;
        }
        return FastScan::Answer;
      case dom::element_type::DOUBLE:
        // Boost.JSON and simdjson may differ on a number's form (an integer or a double, the last
        // bit of a fraction); only a counter keeps the value, and a fractional counter is rare:
        // the SAX scan reads it.
        return count != nullptr ? FastScan::NotRead : FastScan::Answer;
      case dom::element_type::BOOL:
        if (count != nullptr) count->kind = CountValue::Kind::Other;
        return FastScan::Answer;
      case dom::element_type::NULL_VALUE:
        if (count != nullptr) count->kind = CountValue::Kind::Null;
        return FastScan::Answer;
    }
    return FastScan::NotRead;
  }

  OpenAiAnswer& answer_;
};

// ---- A body without a backslash: read by hand ---------------------------------------------------

/**
 * The deepest nesting the plain scan reads (the root is 1), well under the SAX scan's: a deeper
 * body is left to it (NotRead).
 */
constexpr unsigned kPlainMaxDepth = 32;

/**
 * A recursive descent over a body with no escape, in document order, with OpenAiAnswerScan's keys,
 * duplicate checks, slots, containers and give-ups (as AnswerWalk). It decides (Answer) only a body
 * it has checked whole against a grammar no wider than Boost.JSON's (RFC 8259 without comments or
 * trailing commas, Boost.JSON's own UTF-8 check); anything else it leaves to the SAX scan
 * (NotRead): invalid JSON, a backslash, a counter that is not a non-negative integer of
 * at most 18 digits, an exponent of more than 4 digits (Boost.JSON refuses one that overflows an
 * int), nesting deeper than kPlainMaxDepth. A give-up (Slot::GiveUp, a duplicate, a non-null
 * `error`, `delta` with `message`) is decided where it is met: the SAX scan meets it at the same
 * place, or fails earlier on invalid JSON; either way it returns false.
 */
class PlainScan {
  using Scan = OpenAiAnswerScan;
  using Ctx = Scan::Ctx;
  using Slot = Scan::Slot;

public:
  PlainScan(std::string_view body, bool stream, OpenAiAnswer& answer)
      : p_(body.data()), end_(body.data() + body.size()), answer_(answer), stream_(stream) {}

  FastScan run() {
    // The root is an object: once the trailing whitespace is cut off, the last byte is its `}`.
    // Every loop over whitespace, digits or structure then stops at a byte of the body without
    // looking at the end; only a string (and a literal) checks it, and a nested container that
    // took the last `}` (the root never closed).
    while (end_ != p_ && isSpace(end_[-1])) --end_;
    if (end_ == p_ || end_[-1] != '}') return FastScan::NotRead;  // the SAX scan decides
    skipSpace();
    if (*p_ != '{') return FastScan::NotRead;
    ++p_;
    if (!object(Ctx::Root, 1)) return result_;
    return p_ == end_ ? FastScan::Answer : FastScan::NotRead;  // else trailing data
  }

private:
  bool stop(FastScan result) {
    result_ = result;
    return false;
  }
  bool notRead() { return stop(FastScan::NotRead); }
  bool giveUp() { return stop(FastScan::GiveUp); }

  static bool isSpace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
  /** Stops at the last `}` at the latest (run()). */
  void skipSpace() {
    while (static_cast<unsigned char>(*p_) <= ' ' && isSpace(*p_)) ++p_;
  }

  /** An object's members, `p_` past its `{`. */
  bool object(Ctx ctx, unsigned depth) {
    skipSpace();
    if (*p_ == '}') {
      ++p_;
      return true;
    }
    std::uint32_t seen = 0;
    for (;;) {
      if (*p_ != '"') return notRead();
      const char* const key = p_ + 1;
      if (!string()) return false;
      const std::string_view name(key, static_cast<std::size_t>(p_ - 1 - key));
      skipSpace();
      if (*p_ != ':') return notRead();
      ++p_;
      skipSpace();
      Slot slot = Slot::None;
      if (ctx != Ctx::Ignore) {
        slot = Scan::keySlot(answer_, ctx, name, stream_, seen);
        if (slot == Slot::GiveUp) return giveUp();
      }
      if (!value(slot, ctx, depth)) return false;
      skipSpace();
      if (*p_ == ',') {
        ++p_;
        skipSpace();
        continue;
      }
      if (*p_ == '}') {
        ++p_;
        return true;
      }
      return notRead();
    }
  }

  /** An array's elements, `p_` past its `[`. */
  bool array(Ctx ctx, unsigned depth) {
    skipSpace();
    if (*p_ == ']') {
      ++p_;
      return true;
    }
    const Slot slot = Scan::elementSlot(ctx, Slot::None);
    for (;;) {
      if (!value(slot, ctx, depth)) return false;
      skipSpace();
      if (*p_ == ',') {
        ++p_;
        skipSpace();
        continue;
      }
      if (*p_ == ']') {
        ++p_;
        return true;
      }
      return notRead();
    }
  }

  /** A value (`p_` at its first byte) that fills `slot` in a container with context `parent`, at
   * nesting `depth`. `p_` is then before the end (a nested container that took the last `}` is
   * NotRead). */
  [[gnu::always_inline]] bool value(Slot slot, Ctx parent, unsigned depth) {
    switch (*p_) {
      case '"': {
        const char* const text = p_ + 1;
        if (!string()) return false;
        if (slot == Slot::None) return true;
        return stringValue(slot, std::string_view(text, static_cast<std::size_t>(p_ - 1 - text)));
      }
      case '{':
      case '[':
        return container(slot, parent, depth);
      case 't':
        return literal("true", 4, slot, CountValue::Kind::Other);
      case 'f':
        return literal("false", 5, slot, CountValue::Kind::Other);
      case 'n':
        // "error": null is no error: Slot::Error has no counter.
        return literal("null", 4, Slot::None, CountValue::Kind::Null, slot);
      default:
        return number(slot);
    }
  }

  /** An object or array value, as value(). */
  [[gnu::noinline]] bool container(Slot slot, Ctx parent, unsigned depth) {
    if (slot == Slot::Error) return giveUp();  // an error that is not null
    if (CountValue* count = Scan::countValue(answer_, slot)) {
      count->kind = CountValue::Kind::Other;
    }
    const bool is_object = *p_ == '{';
    if (is_object && slot == Slot::Usage) answer_.has_usage = true;
    if (depth >= kPlainMaxDepth) return notRead();
    ++p_;
    const Ctx ctx = Scan::containerCtx(is_object, slot, parent);
    if (!(is_object ? object(ctx, depth + 1) : array(ctx, depth + 1))) return false;
    return p_ != end_ || notRead();  // it took the last `}`: the root is not closed
  }

  bool stringValue(Slot slot, std::string_view s) {
    if (slot == Slot::Error) return giveUp();
    Scan::takeText(answer_, slot, s);
    if (CountValue* count = Scan::countValue(answer_, slot)) count->kind = CountValue::Kind::Other;
    return true;
  }

  /** `true`, `false` or `null` (`word`, `n` bytes): `check` gives up if it is Slot::Error,
   * `count_slot`'s counter takes `kind`. */
  bool literal(const char* word,
               std::size_t n,
               Slot check,
               CountValue::Kind kind,
               Slot count_slot = Slot::None) {
    if (static_cast<std::size_t>(end_ - p_) < n || std::memcmp(p_, word, n) != 0) {
      return notRead();
    }
    p_ += n;
    if (check == Slot::Error) return giveUp();
    if (CountValue* count = Scan::countValue(answer_, check == Slot::None ? count_slot : check)) {
      count->kind = kind;
    }
    return true;
  }

  static bool isDigit(char c) { return c >= '0' && c <= '9'; }

  /** A number (RFC 8259's grammar); only a counter keeps its value. Digit loops stop at the last
   * `}` at the latest. */
  bool number(Slot slot) {
    const char* const start = p_;
    bool plain = true;  // no sign, fraction or exponent
    if (*p_ == '-') {
      plain = false;
      ++p_;
    }
    std::uint64_t mantissa = 0;
    if (*p_ == '0') {
      ++p_;
    } else if (*p_ >= '1' && *p_ <= '9') {
      do {
        mantissa = mantissa * 10 + static_cast<unsigned>(*p_ - '0');
        ++p_;
      } while (isDigit(*p_));
    } else {
      return notRead();
    }
    const std::size_t integer_digits = static_cast<std::size_t>(p_ - start);
    if (*p_ == '.') {
      plain = false;
      ++p_;
      if (!isDigit(*p_)) return notRead();
      do ++p_;
      while (isDigit(*p_));
    }
    if (*p_ == 'e' || *p_ == 'E') {
      plain = false;
      ++p_;
      if (*p_ == '+' || *p_ == '-') ++p_;
      const char* const digits = p_;
      while (isDigit(*p_)) ++p_;
      if (p_ == digits || p_ - digits > 4) return notRead();  // none, or Boost.JSON may overflow
    }
    if (slot == Slot::None) return true;
    if (slot == Slot::Error) return giveUp();
    if (CountValue* count = Scan::countValue(answer_, slot)) {
      // Boost.JSON's int64 for these; anything else (negative, a fraction, an exponent, larger)
      // is rare in a counter: the SAX scan reads it.
      if (!plain || integer_digits > 18) return notRead();
      count->kind = CountValue::Kind::Int64;
      count->i = static_cast<std::int64_t>(mantissa);
    }
    return true;
  }

  /**
   * A string, `p_` at its opening quote, then past its closing one (its text is as is: no
   * escape). Sixteen (else eight) bytes at a time up to a quote, a backslash, a control character
   * or a byte with its top bit set (a UTF-8 sequence, checked as Boost.JSON checks it).
   */
  bool string() {
    ++p_;
    for (;;) {
#if defined(__SSE2__)
      const __m128i quote = _mm_set1_epi8('"');
      const __m128i backslash = _mm_set1_epi8('\\');
      const __m128i space = _mm_set1_epi8(' ');
      while (end_ - p_ >= 16) {
        const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p_));
        // Signed: below ' ' is a control character or a byte with its top bit set.
        const __m128i special =
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, backslash)),
                         _mm_cmplt_epi8(x, space));
        const unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(special));
        if (mask != 0) {
          p_ += __builtin_ctz(mask);
          break;
        }
        p_ += 16;
      }
#else
      constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
      constexpr std::uint64_t kHighs = 0x8080808080808080ULL;
      while (end_ - p_ >= 8) {
        std::uint64_t x;
        std::memcpy(&x, p_, 8);
        const std::uint64_t quote = x ^ (kOnes * '"');
        const std::uint64_t backslash = x ^ (kOnes * '\\');
        // Each term flags its lowest matching byte exactly (a borrow only runs upwards).
        const std::uint64_t special = ((quote - kOnes) & ~quote) |
                                      ((backslash - kOnes) & ~backslash) |
                                      ((x - kOnes * 0x20) & ~x) | x;
        const std::uint64_t flags = special & kHighs;
        if (flags != 0) {
          p_ += __builtin_ctzll(flags) / 8;
          break;
        }
        p_ += 8;
      }
#endif
      if (p_ == end_) return notRead();
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c < 0x20 || c == '\\') return notRead();  // a control character, an escape
      if (c < 0x80) {
        ++p_;
        continue;
      }
      const std::uint16_t first = boost::json::detail::classify_utf8(static_cast<char>(c));
      const std::size_t length = first & 0xFF;
      if (length == 0 || static_cast<std::size_t>(end_ - p_) < length ||
          !boost::json::detail::is_valid_utf8(p_, first)) {
        return notRead();
      }
      p_ += length;
    }
  }

  const char* p_;
  const char* end_;  // the last `}` + 1 (run())
  OpenAiAnswer& answer_;
  const bool stream_;
  FastScan result_ = FastScan::NotRead;
};

}  // namespace

bool scanOpenAiSax(std::string_view body, bool stream, OpenAiAnswer& out) {
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

FastScan scanOpenAiAnswerFast(std::string_view body, OpenAiAnswer& out) {
  out.reset();
  if (body.size() > kOpenAiAnswerFastBytes) return FastScan::NotRead;
  // simdjson skips a leading UTF-8 byte order mark, Boost.JSON refuses it: the SAX scan decides.
  if (body.size() >= 3 && body.compare(0, 3, "\xEF\xBB\xBF") == 0) return FastScan::NotRead;
  try {
    thread_local FastParser fast;
    if (!fast.ready) {
      if (fast.parser.allocate(4096, kFastMaxDepth) != simdjson::SUCCESS) return FastScan::NotRead;
      fast.ready = true;
    }
    // simdjson reads up to SIMDJSON_PADDING bytes past the end: the body is copied into a buffer
    // that has them (kept per thread), rather than letting parse() allocate a padded copy.
    if (fast.padded.size() < body.size() + simdjson::SIMDJSON_PADDING) {
      fast.padded.resize(body.size() + simdjson::SIMDJSON_PADDING);
    }
    if (!body.empty()) std::memcpy(fast.padded.data(), body.data(), body.size());
    dom::element root;
    if (fast.parser.parse(fast.padded.data(), body.size(), false).get(root) != simdjson::SUCCESS) {
      return FastScan::NotRead;  // invalid JSON or UTF-8, a number simdjson refuses, too deep, ...
    }
    if (hasZeroDouble(fast.parser.doc)) return FastScan::NotRead;
    dom::object object;
    if (root.get_object().get(object) != simdjson::SUCCESS) {
      return FastScan::GiveUp;  // not an object: the document path counts it bad
    }
    return AnswerWalk(out).root(object);
  } catch (...) {  // allocation failure: the SAX scan decides
    return FastScan::NotRead;
  }
}

FastScan scanOpenAiPlain(std::string_view body, bool stream, OpenAiAnswer& out) {
  out.reset();
  // Boost.JSON counts a number's digits in an int: a body this large goes to it.
  if (body.size() > (std::size_t{1} << 30)) return FastScan::NotRead;
  try {
    return PlainScan(body, stream, out).run();
  } catch (...) {  // allocation failure (the model's string): the SAX scan decides
    return FastScan::NotRead;
  }
}

bool scanOpenAi(std::string_view body, bool stream, OpenAiAnswer& out) {
  // The plain scan would read a body with an escape up to it (~2 000 instructions before the
  // first `\n` of a markdown answer): a `memchr` first, ~110 for the bench's answer.
  if (std::memchr(body.data(), '\\', body.size()) == nullptr) {
    switch (scanOpenAiPlain(body, stream, out)) {
      case FastScan::Answer:
        return true;
      case FastScan::GiveUp:
        return false;
      case FastScan::NotRead:
        break;
    }
  } else if (!stream && body.size() <= kOpenAiAnswerFastBytes) {
    switch (scanOpenAiAnswerFast(body, out)) {
      case FastScan::Answer:
        return true;
      case FastScan::GiveUp:
        return false;
      case FastScan::NotRead:
        break;
    }
  }
  return scanOpenAiSax(body, stream, out);
}

}  // namespace spendgate::core
