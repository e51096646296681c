#include "core/pricing/pricer.hpp"

#include <algorithm>

namespace spendgate::core {

namespace {

/** The rules find() prices by, in the order it tries them. */
enum class Rule : std::uint8_t {
  ExactResponse,
  ExactRequest,
  DatedResponse,
  DatedRequest,
  VersionedResponse,
  VersionedRequest,
};

/**
 * PriceMatch::source for an origin and a rule, "<origin>:<rule>": static text, so a request's
 * price source is a view of one of these instead of a string built (and allocated) each time.
 */
std::string_view sourceOf(PriceOrigin origin, Rule rule) {
  static constexpr std::string_view kCatalog[] = {
      "catalog:exact-response", "catalog:exact-request",      "catalog:dated-response",
      "catalog:dated-request",  "catalog:versioned-response", "catalog:versioned-request"};
  static constexpr std::string_view kConfig[] = {
      "config:exact-response", "config:exact-request",      "config:dated-response",
      "config:dated-request",  "config:versioned-response", "config:versioned-request"};
  const auto index = static_cast<std::size_t>(rule);
  return origin == PriceOrigin::Config ? kConfig[index] : kCatalog[index];
}

// Picks the rates for a request: service tier variant, else long context, else base.
const TokenRates& selectRates(const ModelPrice& price,
                              std::string_view service_tier,
                              std::int64_t input_tokens,
                              std::string& variant) {
  if (!service_tier.empty()) {
    if (const auto it = price.tiers.find(service_tier); it != price.tiers.end()) {
      variant = "tier:" + it->first;
      return it->second;
    }
  }
  if (price.long_context && input_tokens > price.long_context->above_input_tokens) {
    variant = "long-context";
    return price.long_context->rates;
  }
  variant.clear();
  return price.rates;
}

/** The per-token rates a worst case bounds at, from the rates it chose. */
struct BoundRates {
  Picodollars input = 0;
  Picodollars output = 0;
};

BoundRates boundRates(const TokenRates& rates) {
  // Any prompt token may turn out to be a cache write; only explicit write rates count, so that
  // providers without cache writes are not bounded at Anthropic's multipliers. Audio input needs
  // no rate of its own here: an audio token takes hundreds of body bytes (base64 of at least
  // ~100 ms of sound), so the text rate on one token per byte already bounds it many times over.
  // Any output token may be audio, though: max_tokens counts them too.
  return {
      std::max({rates.input, rates.cache_write_5m.value_or(0), rates.cache_write_1h.value_or(0)}),
      std::max(rates.output, rates.output_audio.value_or(0))};
}

}  // namespace

Picodollars costAtRates(const Usage& usage,
                        const TokenRates& rates,
                        Picodollars web_search_per_call) {
  const std::int64_t cached = std::max<std::int64_t>(usage.cached_input_tokens, 0);
  const std::int64_t writes = std::max<std::int64_t>(usage.cache_write_tokens, 0);
  const std::int64_t writes_1h = std::clamp<std::int64_t>(usage.cache_write_1h_tokens, 0, writes);
  const std::int64_t writes_5m = writes - writes_1h;
  // Audio input is counted apart from the plain text input (OpenAI: prompt - cached - audio),
  // never below nothing when the counts overlap oddly.
  const std::int64_t uncached = std::max<std::int64_t>(usage.input_tokens - cached - writes, 0);
  const std::int64_t audio_in = std::clamp<std::int64_t>(usage.audio_input_tokens, 0, uncached);
  const std::int64_t output = std::max<std::int64_t>(usage.output_tokens, 0);
  const std::int64_t audio_out = std::clamp<std::int64_t>(usage.audio_output_tokens, 0, output);
  Picodollars total = saturatingMul(uncached - audio_in, rates.input);
  total = saturatingAdd(total, saturatingMul(audio_in, rates.inputAudio()));
  total = saturatingAdd(total, saturatingMul(cached, rates.cachedInput()));
  total = saturatingAdd(total, saturatingMul(writes_5m, rates.cacheWrite5m()));
  total = saturatingAdd(total, saturatingMul(writes_1h, rates.cacheWrite1h()));
  total = saturatingAdd(total, saturatingMul(output - audio_out, rates.output));
  total = saturatingAdd(total, saturatingMul(audio_out, rates.outputAudio()));
  total = saturatingAdd(total, saturatingMul(std::max<std::int64_t>(usage.web_search_requests, 0),
                                             web_search_per_call));
  return total;
}

Pricer::Pricer(PriceCatalog catalog, UnknownModelPolicy policy)
    : catalog_(std::move(catalog)), policy_(policy) {}

std::optional<Pricer::Found> Pricer::find(std::string_view response_model,
                                          std::string_view request_model) const {
  const auto hit = [](const std::pair<const std::string*, const ModelPrice*>& found, Rule rule) {
    return Found{found.first, found.second, sourceOf(found.second->origin, rule)};
  };
  // A snapshot may have its own price (gpt-4o-2024-05-13), so exact names come first.
  if (const auto found = catalog_.find(response_model)) return hit(*found, Rule::ExactResponse);
  if (const auto found = catalog_.find(request_model)) return hit(*found, Rule::ExactRequest);
  if (const auto base = stripDateSuffix(response_model)) {
    if (const auto found = catalog_.find(*base)) return hit(*found, Rule::DatedResponse);
  }
  if (const auto base = stripDateSuffix(request_model)) {
    if (const auto found = catalog_.find(*base)) return hit(*found, Rule::DatedRequest);
  }
  // Gemini pinned versions (gemini-2.0-flash-001) are the stable model's price.
  if (const auto base = stripGeminiVersionSuffix(response_model)) {
    if (const auto found = catalog_.find(*base)) return hit(*found, Rule::VersionedResponse);
  }
  if (const auto base = stripGeminiVersionSuffix(request_model)) {
    if (const auto found = catalog_.find(*base)) return hit(*found, Rule::VersionedRequest);
  }
  return std::nullopt;
}

std::optional<PriceMatch> Pricer::resolve(std::string_view response_model,
                                          std::string_view request_model) const {
  const auto found = find(response_model, request_model);
  if (!found) return std::nullopt;
  PriceMatch match;
  match.price = found->price;
  match.model = *found->model;
  match.source = found->source;
  return match;
}

Cost Pricer::cost(const Usage& usage, std::string_view request_model) const {
  Cost cost;
  if (const auto found = find(usage.model, request_model)) {
    const TokenRates& rates =
        selectRates(*found->price, usage.service_tier, usage.input_tokens, cost.rate_variant);
    cost.amount = costAtRates(usage, rates, found->price->web_search_per_call);
    cost.priced = true;
    cost.price_source = found->source;
    cost.priced_model = *found->model;
    return cost;
  }
  switch (policy_.kind) {
    case UnknownModelPolicy::Kind::Price:
      cost.amount = costAtRates(usage, policy_.rates, 0);
      cost.priced = true;
      cost.price_source = "policy:price";
      return cost;
    case UnknownModelPolicy::Kind::Reject:
      cost.rejected = true;
      break;
    case UnknownModelPolicy::Kind::Allow:
      break;
  }
  cost.price_source = "unpriced";
  return cost;
}

WorstCase Pricer::worstCase(const RequestInfo& request,
                            std::span<const std::string> answered_as) const {
  WorstCase worst;
  if (request.kind == EndpointKind::Unmetered) {
    // count_tokens, model listings...: free, so no limit or budget may refuse them, and the
    // model need not be priced.
    worst.price_source = "unmetered";
    return worst;
  }
  worst.input_tokens_bound =
      std::max<std::int64_t>(request.request_body_bytes, 0) / kWorstCaseBytesPerToken;

  const ModelPrice* price = nullptr;
  TokenRates unknown_rates;
  std::int64_t model_max_output = 0;
  if (const auto found = find({}, request.requested_model)) {
    price = found->price;
    model_max_output = price->max_output_tokens;
    worst.price_source = found->source;
  } else if (policy_.kind == UnknownModelPolicy::Kind::Price) {
    unknown_rates = policy_.rates;
    model_max_output = policy_.max_output_tokens;
    worst.price_source = "policy:price";
  } else {
    worst.rejected = policy_.kind == UnknownModelPolicy::Kind::Reject;
    worst.price_source = "unpriced";
    return worst;
  }
  worst.priced = true;

  std::int64_t output_bound = 0;
  if (request.kind != EndpointKind::Embeddings) {
    output_bound = request.max_output_tokens.value_or(
        model_max_output > 0 ? model_max_output : kDefaultMaxOutputTokens);
    output_bound = saturatingMul(output_bound, std::max<std::int64_t>(request.choices, 1));
  }
  worst.output_tokens_bound = output_bound;

  std::string variant;
  const TokenRates& rates = price != nullptr ? selectRates(*price, request.service_tier,
                                                           worst.input_tokens_bound, variant)
                                             : unknown_rates;
  BoundRates bound = boundRates(rates);
  // A model answered as a dearer entry settles at that entry's price: bound at the dearer rates.
  for (const std::string& answered : answered_as) {
    if (const auto entry = catalog_.find(answered)) {
      const BoundRates theirs = boundRates(
          selectRates(*entry->second, request.service_tier, worst.input_tokens_bound, variant));
      bound.input = std::max(bound.input, theirs.input);
      bound.output = std::max(bound.output, theirs.output);
    }
  }
  worst.input_rate = bound.input;
  worst.output_rate = bound.output;
  worst.amount = saturatingAdd(saturatingMul(worst.input_tokens_bound, bound.input),
                               saturatingMul(output_bound, bound.output));
  return worst;
}

bool Pricer::boundsAbove(std::string_view catalog_model,
                         const RequestInfo& request,
                         const WorstCase& worst) const {
  if (!worst.priced) return false;
  const auto entry = catalog_.find(catalog_model);
  if (!entry) return false;
  std::string variant;
  const BoundRates theirs = boundRates(
      selectRates(*entry->second, request.service_tier, worst.input_tokens_bound, variant));
  return theirs.input > worst.input_rate || theirs.output > worst.output_rate;
}

}  // namespace spendgate::core
