#pragma once

#include "core/pricing/model_price.hpp"

namespace spendgate::core {

/** What to do with a model the catalog does not price (config `pricing.unknown_model`). */
struct UnknownModelPolicy {
  enum class Kind {
    Reject,  // refuse the request (400 model_not_priced)
    Allow,   // forward it; cost 0, flagged unpriced
    Price,   // forward it and bill at `rates`
  };
  Kind kind = Kind::Reject;
  /** Used with Kind::Price. */
  TokenRates rates;
  /** Output bound for the worst-case cost with Kind::Price when the request sets none. */
  std::int64_t max_output_tokens = 0;
};

}  // namespace spendgate::core
