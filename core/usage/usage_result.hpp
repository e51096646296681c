#pragma once

#include <string>
#include <string_view>

#include "core/usage/usage.hpp"

namespace spendgate::core {

/** How trustworthy UsageResult::usage is. */
enum class UsageStatus {
  /** The provider's final counts. */
  Reported,
  /** The stream ended early or failed after some provider counts (e.g. Anthropic message_start,
   * Gemini's running usageMetadata): those counts, topped up by the estimator. */
  Partial,
  /** No provider counts at all (stream without include_usage, usage field missing): estimate. */
  Estimated,
  /** Nothing to bill: a non-2xx answer, an unmetered endpoint, or a failure before any output. */
  NotBillable,
  /** The body was not parseable JSON: estimate. */
  Malformed,
  /** The provider reported impossible counts (negative, > 1e9, subset above total): estimate. */
  Absurd,
  /** The JSON body exceeded the buffering cap: estimate. */
  TooLarge,
};

/** @return a stable lower-case name ("reported", "partial", ...). */
std::string_view usageStatusName(UsageStatus status);

/** The outcome of reading one response. */
struct UsageResult {
  /** Best known counts; the estimator's where `estimated` is set. Zero when NotBillable. */
  Usage usage;
  UsageStatus status = UsageStatus::NotBillable;
  /** The counts are (partly) estimated: ledger usage_source = "estimated", else "provider". */
  bool estimated = false;
  /** The upstream reported an error in a 2xx answer (SSE `error` event, response.failed, an error
   * chunk or body). */
  bool upstream_error = false;
  /** Short reason: the upstream error type/code, or what was wrong with the body. */
  std::string detail;
};

}  // namespace spendgate::core
