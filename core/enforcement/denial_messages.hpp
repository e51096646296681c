#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/enforcement/denial.hpp"
#include "core/enforcement/emergency_stop.hpp"
#include "core/enforcement/enforcement_plan.hpp"
#include "core/metering/request_info.hpp"
#include "core/pricing/money.hpp"
#include "core/provider/provider_format.hpp"

// Builders for every Denial, so the memory store, the Redis store and the proxy word them alike.
namespace spendgate::core {

/** Which limit of a rate-limit rule refused the request. */
enum class RateLimitKind { Requests, Tokens, Concurrent };

/** 503, x-should-retry: false; retry-after while the stop has an end. */
Denial emergencyStopDenial(const EmergencyStopState& state,
                           std::chrono::system_clock::time_point now);

/** Why a caller's key was refused. */
enum class UnknownKeyCause {
  Missing,         // no key at all, and passthrough is off
  NotVirtual,      // not one of our virtual keys, and passthrough is off
  UnknownVirtual,  // in our own virtual-key shape, but no configured virtual key has it
  Conflicting,     // a virtual key beside a different credential in another auth place
  Stray,           // a key in our own shape outside the auth places (another header, Basic, query)
};

/**
 * 401 unknown_key; the message says which cause, and for a missing key where `format`'s callers
 * send one.
 */
Denial unknownKeyDenial(UnknownKeyCause cause, ProviderFormat format = ProviderFormat::OpenAI);

/**
 * 400: the model has no price and `unknown_model: reject`.
 * @param azure_deployment an Azure request's deployment (RequestInfo::azure_deployment), or "";
 *        when the model is that name (no `deployments` entry maps it), the message names
 *        `providers.<provider>.deployments` as the place to say which model it runs
 * @param provider the provider's name in the config
 */
Denial unknownModelDenial(std::string_view model,
                          std::string_view azure_deployment = {},
                          std::string_view provider = {});

/**
 * 400 unknown_model under `unknown_model: reject`, for a metered request whose model cannot be
 * told (`problem` is not ModelProblem::None): without a price nothing bounds its cost. The message
 * says why: an unreadable body (what spendgate reads) or no model named.
 * @param model_from_body RequestInfo::model_from_body: whether the body or the path names it
 */
Denial modelProblemDenial(ModelProblem problem, bool model_from_body = true);

/**
 * 400: the worst-case cost is above `request_limits.max_cost_usd`; names both in USD and what to
 * lower or set (`cap`).
 */
Denial requestCostDenial(Picodollars worst_case_cost, Picodollars max_cost, OutputCap cap = {});

/**
 * 429 from a rate limit.
 * @param wait_ms the true time until the request would pass; nullopt when it never will (more
 *        tokens than the whole per-minute limit): then x-should-retry is false and
 *        retry-after is the limit's window (60 s).
 *        For Concurrent pass the hint you want clients to wait (the store uses 1 s).
 * @param cap the request's output cap, named in the advice when a request needs more tokens
 *        than the whole per-minute limit
 */
Denial rateLimitDenial(const RateCharge& charge,
                       RateLimitKind kind,
                       std::optional<std::int64_t> wait_ms,
                       const RateLimitHeaders& headers,
                       OutputCap cap = {});

/**
 * 429 insufficient_quota from a hard budget: names the budget, subject, spend, reservations, the
 * limit and this request's worst case; retry-after = time until the period resets (none for
 * total), x-should-retry: false.
 */
Denial budgetDenial(const BudgetCharge& charge,
                    Picodollars spent,
                    Picodollars reserved,
                    std::chrono::system_clock::time_point now);

/** 503: the shared store did not answer and `on_unavailable: fail_closed`. */
Denial storeUnavailableDenial();

/** @return "2026-11-24T00:00:00Z" (RFC 3339 UTC, whole seconds). */
std::string formatUtcSeconds(std::chrono::system_clock::time_point time);

}  // namespace spendgate::core
