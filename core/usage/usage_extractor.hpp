#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/memory/buffer_allowance.hpp"
#include "core/memory/buffer_grant.hpp"
#include "core/metering/request_info.hpp"
#include "core/usage/anthropic_usage.hpp"
#include "core/usage/json_array_splitter.hpp"
#include "core/usage/json_fields.hpp"
#include "core/usage/json_scratch.hpp"
#include "core/usage/openai_usage.hpp"
#include "core/usage/sse_parser.hpp"
#include "core/usage/usage.hpp"
#include "core/usage/usage_estimator.hpp"
#include "core/usage/usage_result.hpp"

namespace spendgate::core {

/**
 * Reads the token usage of one response, fed the decoded body as it is relayed.
 *
 * Streams (text/event-stream) are parsed event by event and only the current event is buffered;
 * Gemini's JSON-array stream element by element; other JSON bodies are buffered up to a cap and
 * parsed once at finish(). Each provider's rules (docs/metering.md) are applied: OpenAI usage
 * chunk, Responses terminal events, Anthropic message_start + cumulative message_delta, Gemini's
 * last running usageMetadata. Never throws on bad input; the problem shows in the result.
 *
 * Usage: construct when the response headers arrive, feed() every body piece (after de-chunking
 * and content-decoding), then finish() once, whether the body ended normally or not.
 */
class UsageExtractor {
public:
  struct Limits {
    std::size_t max_json_bytes = 32u << 20;  // non-streamed bodies are parsed whole
    std::size_t max_event_bytes = SseParser::kDefaultMaxEventBytes;
    /** Read non-streamed JSON and stream events through the document view only, never the
     * one-pass scan of OpenAI-shaped answers and chunk events (tests compare the two; the
     * results are the same). */
    bool document_only = false;
    /** The most output the request can be billed (the worst case it reserved: its own cap, else
     * the model's max_output_tokens, times n; 0 for embeddings), when the caller knows it. An
     * estimate never passes it, so an estimated settlement never exceeds the reservation. */
    std::optional<std::int64_t> output_tokens_bound;
    /** What all requests together may buffer (the JSON body, a stream's event) past 1 MiB each;
     * none: only the caps above. Past it the body is `too_large`, the event discarded. */
    BufferAllowance* buffers = nullptr;
  };

  /**
   * @param request what classifyRequest() said about the request.
   * @param http_status the upstream's status; non-2xx answers are not billed and not parsed.
   * @param content_type the upstream's Content-Type (selects SSE vs JSON).
   */
  UsageExtractor(const RequestInfo& request,
                 int http_status,
                 std::string_view content_type,
                 Limits limits);
  UsageExtractor(const RequestInfo& request, int http_status, std::string_view content_type)
      : UsageExtractor(request, http_status, content_type, Limits{}) {}

  /** Consumes the next piece of the decoded body. */
  void feed(std::string_view bytes);

  /** Ends the body and computes the result. Call once. */
  UsageResult finish();
  /**
   * feed(rest) then finish(), for a caller that holds the body itself: a JSON body (nothing of it
   * fed before) is read in place instead of being copied into the extractor. `rest` is only read
   * during the call.
   */
  UsageResult finish(std::string_view rest);
  /**
   * finish() and finish(rest), writing the result into `out` (every member assigned, whatever
   * it held) instead of returning it: a caller that keeps the result in place (the session's
   * exchange) saves moving it there.
   */
  void finishInto(UsageResult& out);
  void finishInto(std::string_view rest, UsageResult& out);

  /**
   * What was fed, as an estimate, without finishing: for a caller whose finishInto() threw
   * part-way, which must not run it again (it would read a half-finished state: a JSON body
   * already freed, a stream's result half-written). The output is estimated from what was seen
   * (a JSON body: from its bytes), the provider's counts seen so far, if any, are a floor, and
   * the result is flagged estimated.
   */
  void estimateInto(UsageResult& out) const;

  /** @return true when the body is read as a stream (SSE or JSON array). */
  bool isStream() const { return mode_ == Mode::Sse || mode_ == Mode::JsonArray; }

  /** @return the provider's counts seen so far (running totals), if any. */
  std::optional<Usage> reportedSoFar() const;

private:
  enum class Mode { Skip, Json, Sse, JsonArray };

  class SseSink final : public SseParser::Handler {
  public:
    explicit SseSink(UsageExtractor& owner) : owner_(owner) {}
    void onEvent(const SseEvent& event) override { owner_.onSseEvent(event); }

  private:
    UsageExtractor& owner_;
  };
  class ElementSink final : public JsonArraySplitter::Handler {
  public:
    explicit ElementSink(UsageExtractor& owner) : owner_(owner) {}
    void onElement(std::string_view json) override { owner_.onJsonChunk(json); }

  private:
    UsageExtractor& owner_;
  };

  void onSseEvent(const SseEvent& event);
  void onJsonChunk(std::string_view json);
  void handleOpenAiChunk(const boost::json::object& chunk);
  void handleResponsesEvent(std::string_view type, const boost::json::object& event);
  void handleAnthropicEvent(std::string_view type, const boost::json::object& event);
  void handleGeminiChunk(const boost::json::object& chunk);
  void handleJsonDocument(const boost::json::value& doc);
  void noteError(std::string_view what);
  void setModel(std::string_view model);
  /** finish(), reading a JSON body from `held` (the caller's) instead of body_ when given. */
  void finishWith(const std::string_view* held, UsageResult& out);
  UsageResult estimateResult(UsageStatus status, std::int64_t output_tokens) const;
  /** An answer that is not billed (an unmetered endpoint, an error status). */
  void notBillableInto(UsageResult& out) const;
  /** @return an output estimate no larger than Limits::output_tokens_bound, else the request's own
   * output cap when it set one. */
  std::int64_t capOutputEstimate(std::int64_t tokens) const;

  RequestInfo request_;
  Limits limits_;
  Mode mode_ = Mode::Skip;
  bool success_status_ = false;

  SseParser sse_;
  JsonArraySplitter array_;
  JsonScratch json_;
  OpenAiAnswer scanned_;    // what the one-pass scan read from the answer or the last chunk event
  std::string body_;        // Json mode only
  BufferGrant body_grant_;  // body_'s share of Limits::buffers
  bool body_too_large_ = false;
  bool body_over_allowance_ = false;  // too large for what the process had left, not the cap
  std::int64_t body_bytes_ = 0;

  UsageEstimator estimator_;
  json_fields::CountReader counts_;
  std::optional<Usage> reported_;  // the provider's counts (OpenAI, Responses, Gemini)
  AnthropicCounters anthropic_;    // Anthropic keeps raw counters until finish()
  bool anthropic_seen_ = false;
  bool terminal_ = false;  // the stream's normal end marker was seen
  bool upstream_error_ = false;
  std::string detail_;
  std::string model_;
  std::string service_tier_;
  std::size_t bad_events_ = 0;  // events whose data was not JSON
};

}  // namespace spendgate::core
