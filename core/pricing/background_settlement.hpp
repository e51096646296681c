#pragma once

#include <optional>

#include "core/metering/request_info.hpp"
#include "core/pricing/pricer.hpp"
#include "core/usage/usage_result.hpp"

namespace spendgate::core {

/** What a background run is charged when its answer does not show its end. */
struct WorstCaseSettlement {
  UsageResult result;  // the worst case's token counts, flagged estimated
  Cost cost;
};

/**
 * A Responses request with `background: true` runs to its end at the provider, and is billed for
 * it, whatever its answer says: a create answered `queued` with `usage: null`, a stream the client
 * left, no answer at all. spendgate cannot see that end (the usage shows only on a later, free
 * `GET /responses/{id}`), so such a run is charged its worst case, an upper bound, rather than an
 * input-only estimate that would let it pass its hard budget.
 *
 * @return the settlement at the request's worst case (input bound + output bound, at least the
 *         amount reserved for it) when `request` is a background Responses call whose `result` is
 *         not the provider's final usage and not a refusal (non-2xx, never forwarded); nullopt
 *         when `result` stands (a run whose final usage was read is charged exactly).
 * @param reserved the worst case admission reserved, when it was bounded at more than
 *        pricer.worstCase(request) (ServedModelMemory); null: pricer.worstCase(request)
 */
std::optional<WorstCaseSettlement> backgroundSettlement(const Pricer& pricer,
                                                        const RequestInfo& request,
                                                        const UsageResult& result,
                                                        const WorstCase* reserved = nullptr);

}  // namespace spendgate::core
