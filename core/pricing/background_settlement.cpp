#include "core/pricing/background_settlement.hpp"

#include <algorithm>
#include <cstdint>

#include "core/pricing/money.hpp"

namespace spendgate::core {

std::optional<WorstCaseSettlement> backgroundSettlement(const Pricer& pricer,
                                                        const RequestInfo& request,
                                                        const UsageResult& result,
                                                        const WorstCase* reserved) {
  if (request.kind != EndpointKind::Responses || !request.background) return std::nullopt;
  // Final counts end it. A queued answer with zeroed counts (a gateway that fills `usage` in) has
  // none yet: the run has not started.
  if (result.status == UsageStatus::Reported &&
      (result.usage.input_tokens > 0 || result.usage.output_tokens > 0)) {
    return std::nullopt;
  }
  // Refused by the upstream (non-2xx) or never sent: no run was started. A 2xx that reported an
  // error before any output (upstream_error) may still leave the run going: charged.
  if (result.status == UsageStatus::NotBillable && !result.upstream_error) return std::nullopt;

  const WorstCase worst = reserved != nullptr ? *reserved : pricer.worstCase(request);
  WorstCaseSettlement settlement;
  UsageResult& charged = settlement.result;
  charged.status = UsageStatus::Estimated;
  charged.estimated = true;
  charged.upstream_error = result.upstream_error;
  charged.detail = "background run, charged its worst case";
  charged.usage.model = result.usage.model;
  charged.usage.service_tier = result.usage.service_tier;
  charged.usage.input_tokens = worst.input_tokens_bound;
  charged.usage.output_tokens = worst.output_tokens_bound;
  if (!worst.priced) {
    // The request's model has no price (unknown_model: allow): the answer's model may have one.
    charged.usage.output_tokens =
        saturatingMul(request.max_output_tokens.value_or(Pricer::kDefaultMaxOutputTokens),
                      std::max<std::int64_t>(request.choices, 1));
  }
  settlement.cost = pricer.cost(charged.usage, request.requested_model);
  // The reservation bounds at the dearest input and output rates (cache writes, audio): charge no
  // less than it.
  if (worst.priced) settlement.cost.amount = std::max(settlement.cost.amount, worst.amount);
  return settlement;
}

}  // namespace spendgate::core
