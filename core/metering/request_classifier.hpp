#pragma once

#include <map>
#include <string>
#include <string_view>

#include "core/http/canonical_path.hpp"
#include "core/metering/request_info.hpp"
#include "core/provider/provider_format.hpp"

namespace spendgate::core {

/** Azure deployment name -> model name (config `providers.<name>.deployments`). */
using DeploymentMap = std::map<std::string, std::string>;

/**
 * Reads what metering needs from a request before it is forwarded. Never throws; a body that is
 * not JSON it can read (request_body_json.hpp: a leading BOM is skipped, kRequestBodyMaxDepth
 * levels at most) leaves the body-derived fields at their defaults (body_is_json = false), and a
 * metered request whose model that leaves unknown says so in model_problem.
 *
 * @param format the provider's wire format.
 * @param path the request path without the query (a query part is tolerated and ignored). It is
 *        read in its canonical form (CanonicalPath: percent-decoded, dot segments resolved), as
 *        the most lenient upstream reads it; an invalid one is read as sent (the proxy refuses it).
 * @param query the query string without '?' (may be empty).
 * @param body the request body as sent by the client (identity encoding).
 * @param deployments Azure deployment -> model map.
 */
RequestInfo classifyRequest(ProviderFormat format,
                            std::string_view path,
                            std::string_view query,
                            std::string_view body,
                            const DeploymentMap& deployments = {});

/** The same for a path already read canonical (the proxy reads each request's path once). */
RequestInfo classifyRequest(ProviderFormat format,
                            const CanonicalPath& path,
                            std::string_view query,
                            std::string_view body,
                            const DeploymentMap& deployments = {});

/**
 * Whether a request sent with `method` can be a billed call. Every metered endpoint creates one
 * with POST; the safe methods (GET, HEAD, OPTIONS: listing stored completions, a retrieval, a
 * browser's CORS preflight) never do, so on a metered path they are free calls, forwarded as any
 * other. Any other method is read as a call (the provider refuses it, or bills it).
 */
bool methodMayBill(std::string_view method);

/**
 * @return the API `path` calls (a query part is ignored; read canonical, as classifyRequest reads
 *         it): the `kind` classifyRequest gives, read from the path alone, so the proxy knows
 *         whether it must read a body before it does.
 */
EndpointKind endpointKind(ProviderFormat format, std::string_view path);
EndpointKind endpointKind(ProviderFormat format, const CanonicalPath& path);

/**
 * @return whether `path` (a query part is ignored) is Gemini's OpenAI-compatible API
 *         (`/v1beta/openai/...`): OpenAI-shaped requests and answers, called by OpenAI SDKs.
 */
bool isOpenAiCompatibleGeminiPath(ProviderFormat format, std::string_view path);

/**
 * Whether `path` of an Anthropic-format provider is Anthropic's OpenAI SDK compatibility endpoint
 * (`/v1/chat/completions`, billed as Messages are, answering in OpenAI's shape): metered as an
 * OpenAI chat completion, and refused in OpenAI's error shape.
 */
bool isOpenAiCompatibleAnthropicPath(ProviderFormat format, std::string_view path);

/** Either of the two above: OpenAI SDKs call the path, and read errors in OpenAI's shape. */
bool isOpenAiCompatiblePath(ProviderFormat format, std::string_view path);

/** A native Gemini call's last path segment, `models/{model}:{method}`, split at the colon. */
struct GeminiCall {
  std::string_view model;   // before the colon, as it stands in the path
  std::string_view method;  // after it; empty when the segment has no colon
};

/** @return the model and method named by `path`'s last segment (no query part expected). */
GeminiCall splitGeminiCall(std::string_view path);

}  // namespace spendgate::core
