#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/enforcement/denial_messages.hpp"
#include "core/enforcement/enforcement_plan.hpp"
#include "core/enforcement/request_attributes.hpp"
#include "core/enforcement/rules.hpp"

namespace spendgate::core {

class CounterKeyMemo;

/** What a request can spend, as far as budgets are concerned. */
enum class Spending {
  Priced,    // its worst case is reserved on every hard budget that applies
  Unpriced,  // billed by the provider, but spendgate cannot price it (images, audio, batches):
             // reserves kUnpricedAmount, so a used-up hard budget refuses it
  Free,      // costs nothing (count_tokens, model listings): charged to no budget
};

/**
 * Works out the counter operations for one request (SPEC §4, after the emergency stop and
 * identity checks, which the caller does first):
 *  - the per-request limit: worst_case_cost > max_cost gives plan.denial (request_cost) and
 *    nothing else;
 *  - every rate limit whose match fits, with a nonzero limit, charged to its scope's subject;
 *  - every budget whose match fits, hard and soft, for the calendar period containing `now`
 *    (none for a Spending::Free request);
 *  - the global spend counter of the emergency stop's auto period, if configured.
 * @param worst_case_cost reserved on hard budgets (negative counts as 0)
 * @param token_estimate taken from tokens_per_minute now, corrected on settle (clamped to
 *        [0, gcra::kMaxUnits])
 * @param output_cap what a request_cost denial tells the caller to lower
 * @param keys where the counter keys of the last plan are kept, to copy rather than rebuild
 *        (nullptr: built every time)
 */
EnforcementPlan plan(const Rules& rules,
                     const RequestAttributes& attributes,
                     Picodollars worst_case_cost,
                     std::int64_t token_estimate,
                     std::chrono::system_clock::time_point now,
                     Spending spending = Spending::Priced,
                     OutputCap output_cap = {},
                     CounterKeyMemo* keys = nullptr);

/**
 * plan(), written into `out`: its vectors and strings keep their capacity, so a caller that plans
 * request after request into the same object (one per worker thread) allocates nothing once the
 * shapes repeat. Every field of `out` is overwritten; what it held before does not matter.
 */
void planInto(EnforcementPlan& out,
              const Rules& rules,
              const RequestAttributes& attributes,
              Picodollars worst_case_cost,
              std::int64_t token_estimate,
              std::chrono::system_clock::time_point now,
              Spending spending = Spending::Priced,
              OutputCap output_cap = {},
              CounterKeyMemo* keys = nullptr);

/** @return true when every clause of `match` fits the request. */
bool matches(const Match& match, const RequestAttributes& attributes);

/** @return "budget:<name>:<subject>:<unix start>", name and subject escaped (see escapeKeyPart). */
std::string budgetCounterKey(std::string_view name,
                             std::string_view subject,
                             std::chrono::system_clock::time_point period_start);

/** @return "rate:<name>:<subject>", escaped. */
std::string rateLimitKey(std::string_view name, std::string_view subject);

/** @return "spend:<period>:<unix start>" for the period containing `now`. */
std::string spendCounterKey(Period period, std::chrono::system_clock::time_point now);

/**
 * Percent-escapes '%', ':', '{', '}' and bytes below 0x21 so that a subject taken from a header
 * can neither collide with another key's fields nor pick a Redis Cluster hash tag.
 */
std::string escapeKeyPart(std::string_view part);

/** Appends escapeKeyPart(part) to `out`. */
void appendEscapedKeyPart(std::string& out, std::string_view part);

}  // namespace spendgate::core
