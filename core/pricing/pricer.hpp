#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/metering/request_info.hpp"
#include "core/pricing/money.hpp"
#include "core/pricing/price_catalog.hpp"
#include "core/pricing/unknown_model_policy.hpp"
#include "core/usage/usage.hpp"

namespace spendgate::core {

/** Which catalog entry prices a request, and by which rule. */
struct PriceMatch {
  const ModelPrice* price = nullptr;
  std::string model;  // the catalog key
  /**
   * "<catalog|config>:<exact-response|exact-request|dated-response|dated-request|
   * versioned-response|versioned-request>"
   */
  std::string source;
};

/** The cost of one request. */
struct Cost {
  Picodollars amount = 0;
  /** A price was applied (catalog, config or the unknown-model price). */
  bool priced = false;
  /** Unknown model under unknown_model: reject. */
  bool rejected = false;
  /**
   * How it was priced: PriceMatch::source, "policy:price", or "unpriced". Static text (a view of
   * a literal): it outlives the Cost and the Pricer.
   */
  std::string_view price_source;
  /** The catalog key used ("" when unpriced). */
  std::string priced_model;
  /** "" for base rates, "long-context", or "tier:<name>". */
  std::string rate_variant;

  double usd() const { return toUsd(amount); }
};

/** The worst case a request may cost, for reservations and the per-request limit. */
struct WorstCase {
  Picodollars amount = 0;
  bool rejected = false;  // unknown model under unknown_model: reject
  bool priced = false;
  std::int64_t input_tokens_bound = 0;
  std::int64_t output_tokens_bound = 0;
  // The per-token rates the bounds are priced at (0 when unpriced).
  Picodollars input_rate = 0;
  Picodollars output_rate = 0;
  std::string_view price_source;  // as Cost::price_source, or "unmetered"; static text

  double usd() const { return toUsd(amount); }
};

/**
 * Turns usage into money with integer arithmetic (docs/metering.md):
 *
 *   cost = (input - cached - cache_write) x input_rate + cached x cached_rate
 *        + cache_write_5m x write_5m_rate + cache_write_1h x write_1h_rate
 *        + output x output_rate + web_search_requests x per_call
 *
 * Rates: the tier variant the response reports (service_tier) if the model has one; else the
 * long-context rates if input_tokens is above their threshold; else the base rates.
 *
 * Resolution order: exact response model, exact request model, response model without a trailing
 * date, request model without a trailing date, response then request model without a Gemini
 * pinned-version suffix ("-001"); then the unknown-model policy. Immutable and
 * thread-safe once built; rebuild on config reload.
 */
class Pricer {
public:
  /** Default output bound when neither the request nor the catalog gives one. */
  static constexpr std::int64_t kDefaultMaxOutputTokens = 128000;
  /** Worst-case input bound: a text token is at least one byte of the body. */
  static constexpr std::int64_t kWorstCaseBytesPerToken = 1;

  /** @param catalog the catalog with config overrides already set() on it. */
  Pricer(PriceCatalog catalog, UnknownModelPolicy policy);
  // Virtual for tests that make pricing fail (the session's settle path); the rest is not.
  virtual ~Pricer() = default;
  Pricer(const Pricer&) = default;
  Pricer(Pricer&&) = default;
  Pricer& operator=(const Pricer&) = default;
  Pricer& operator=(Pricer&&) = default;

  const PriceCatalog& catalog() const { return catalog_; }
  const UnknownModelPolicy& unknownModelPolicy() const { return policy_; }

  /** @return the entry pricing this pair of names, or nullopt if neither resolves. */
  std::optional<PriceMatch> resolve(std::string_view response_model,
                                    std::string_view request_model) const;

  /** @return whether resolve() would find a price (without building the match's strings). */
  bool hasPrice(std::string_view response_model, std::string_view request_model) const {
    return find(response_model, request_model).has_value();
  }

  /** @return the cost of `usage` (its `model` is the response model). */
  virtual Cost cost(const Usage& usage, std::string_view request_model) const;

  /**
   * @return the most the request can cost: input bound = body bytes / kWorstCaseBytesPerToken at
   * the dearest input-side rate; output bound = the request's cap, else the model's
   * max_output_tokens, else kDefaultMaxOutputTokens, times the number of choices (0 for
   * embeddings). Unmetered endpoints (count_tokens, model listings) cost nothing: amount 0,
   * price_source "unmetered", never rejected. Long-context rates apply when the input bound passes
   * their threshold, and the requested service tier's rates when the model has that tier.
   *
   * @param answered_as catalog names this request's model has been answered as, priced above it
   *        (ServedModelMemory): each rate is the dearest of the request model's and theirs, chosen
   *        the same way. The output bound stays the request's. Names the catalog lacks count
   *        nothing; an unpriced request (unknown_model: allow, reject) stays unpriced.
   */
  WorstCase worstCase(const RequestInfo& request,
                      std::span<const std::string> answered_as = {}) const;

  /**
   * @return whether the catalog entry `catalog_model`, its rates chosen as worstCase chooses
   *         them for `request`, prices an input or output token above the rates `worst` was
   *         priced at (false when `worst` is unpriced or the catalog lacks the name).
   */
  bool boundsAbove(std::string_view catalog_model,
                   const RequestInfo& request,
                   const WorstCase& worst) const;

private:
  /** What resolve() finds, before any string is built: the request path resolves up to three
   * times per request and needs the strings of one of them at most. */
  struct Found {
    const std::string* model;
    const ModelPrice* price;
    std::string_view source;  // PriceMatch::source: "<origin>:<rule>", static text
  };
  std::optional<Found> find(std::string_view response_model, std::string_view request_model) const;

  PriceCatalog catalog_;
  UnknownModelPolicy policy_;
};

/** @return the cost of `usage` at exactly these rates (no resolution, no variants). */
Picodollars costAtRates(const Usage& usage,
                        const TokenRates& rates,
                        Picodollars web_search_per_call);

}  // namespace spendgate::core
