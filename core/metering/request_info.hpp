#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/provider/provider_format.hpp"

namespace spendgate::core {

/** Which API a request calls; decides how its response is read. */
enum class EndpointKind {
  ChatCompletions,              // */chat/completions (OpenAI, Azure, Gemini-compat)
  Completions,                  // */completions (legacy)
  Embeddings,                   // */embeddings, Gemini models/{m}:embedContent|batchEmbedContents
  Responses,                    // */responses, */responses/compact
  AnthropicMessages,            // /v1/messages
  GeminiGenerateContent,        // models/{m}:generateContent
  GeminiStreamGenerateContent,  // models/{m}:streamGenerateContent (SSE with alt=sse, else JSON
                                // array)
  Unmetered,                    // anything else: listing models, count_tokens, ... (costs nothing)
};

/** @return a stable lower-case name ("chat_completions", ...). */
std::string_view endpointKindName(EndpointKind kind);

/**
 * Why a metered request's model, and so its price and worst case, cannot be told before it is
 * forwarded. Under `unknown_model: reject` such a request is refused (SPEC §4, unknown_model).
 */
enum class ModelProblem {
  None,
  /** The model is named in the body, and the body is not a JSON object spendgate can read (see
   * request_body_json.hpp: a BOM is skipped; deeper than kRequestBodyMaxDepth, an unpaired UTF-16
   * surrogate escape or invalid UTF-8 make it unreadable). */
  UnreadableBody,
  /** The request names no model: `model` missing, not a string or empty (a native Gemini or
   * Azure deployment path naming none, too). */
  NoModel,
};

/** What metering needs to know about a request, read once from its path, query and body. */
struct RequestInfo {
  ProviderFormat format = ProviderFormat::OpenAI;
  EndpointKind kind = EndpointKind::Unmetered;
  /**
   * The model the client asked for: the body's `model`; for Gemini the path's `models/{model}`;
   * for Azure the deployment's mapped model (else the body's model, else the deployment).
   */
  std::string requested_model;
  /**
   * Azure only: the deployment, from a classic `/openai/deployments/{deployment}/...` path, else
   * (the v1 API, `/openai/v1/...`) the body's `model`.
   */
  std::string azure_deployment;
  /** The client asked for a stream (`stream: true`, or Gemini `:streamGenerateContent`). */
  bool stream = false;
  /**
   * The body's `background: true` (Responses): the provider runs the request to its end whatever
   * the answer says, and that answer may carry no final usage.
   */
  bool background = false;
  /** OpenAI-shaped response from Gemini: output = total_tokens - prompt_tokens. */
  bool gemini_compat = false;
  /** The output cap the client set: max_completion_tokens, max_tokens, max_output_tokens or
   * generationConfig.maxOutputTokens (first present, in that order). */
  std::optional<std::int64_t> max_output_tokens;
  /**
   * The body field that caps output, for messages that tell the caller what to lower: the one the
   * client set (as spelled), else the endpoint's own ("max_tokens", "max_output_tokens",
   * "generationConfig.maxOutputTokens"); empty where output is not capped (embeddings).
   */
  std::string_view output_cap_field;
  /**
   * Choices generated (and billed) per request: `n`, else generationConfig.candidateCount; the
   * larger of that and `best_of` where present; at least 1, at most 128.
   */
  std::int64_t choices = 1;
  /** The client itself set stream_options.include_usage = true. */
  bool include_usage_requested = false;
  /**
   * Streamed Chat/legacy Completions without include_usage: inject it and filter the extra chunk.
   * Not on an Azure classic path whose api-version predates stream_options (before 2024-08-01).
   */
  bool needs_usage_injection = false;
  /** The `service_tier` the client asked for ("" if none). */
  std::string service_tier;
  /** Size of the request body: the input estimate and the worst-case input bound derive from it. */
  std::int64_t request_body_bytes = 0;
  /** The body parsed as a JSON object. */
  bool body_is_json = false;
  /**
   * The model that prices the request is the body's `model` (OpenAI-shaped APIs, Azure v1,
   * Gemini's OpenAI-compatible API, Anthropic Messages), not one named by the path (native
   * Gemini `models/{model}:...`, Azure `/openai/deployments/{deployment}/...`). Metered only.
   */
  bool model_from_body = false;
  /** Set for a metered request only. */
  ModelProblem model_problem = ModelProblem::None;
};

}  // namespace spendgate::core
