#include "core/pricing/served_model_memory.hpp"

#include <algorithm>
#include <mutex>
#include <span>

namespace spendgate::core {

namespace {

/** Whether a price source names a rule that priced the answer's model, not the request's. */
bool pricedByAnswer(std::string_view price_source) { return price_source.ends_with("-response"); }

}  // namespace

WorstCase ServedModelMemory::worstCase(const Pricer& pricer,
                                       std::string_view provider,
                                       const RequestInfo& request) const {
  // Nothing learned (normal traffic): no lock, the plain worst case.
  if (size_.load(std::memory_order_acquire) == 0) return pricer.worstCase(request);
  std::shared_lock lock(mutex_);
  const auto models = providers_.find(provider);
  if (models == providers_.end()) return pricer.worstCase(request);
  const auto answered = models->second.find(request.requested_model);
  if (answered == models->second.end()) return pricer.worstCase(request);
  return pricer.worstCase(request, std::span<const std::string>(answered->second));
}

ServedModelMemory::Learned ServedModelMemory::learn(const Pricer& pricer,
                                                    std::string_view provider,
                                                    const RequestInfo& request,
                                                    const WorstCase& worst,
                                                    const Cost& cost) {
  // Cheap checks first: nearly every answer is priced by the request's own entry, or by an
  // answered name that is the request's.
  if (!cost.priced || !worst.priced || !pricedByAnswer(cost.price_source) ||
      cost.priced_model == request.requested_model) {
    return Learned::Nothing;
  }
  if (!pricer.boundsAbove(cost.priced_model, request, worst)) return Learned::Nothing;

  std::unique_lock lock(mutex_);
  // Already kept (learned by another request since this one's worst case was priced)?
  if (const auto models = providers_.find(provider); models != providers_.end()) {
    if (const auto answered = models->second.find(request.requested_model);
        answered != models->second.end() &&
        std::find(answered->second.begin(), answered->second.end(), cost.priced_model) !=
            answered->second.end()) {
      return Learned::Nothing;
    }
  }
  if (size_.load(std::memory_order_relaxed) >= capacity_) {
    return full_reported_.exchange(true) ? Learned::Nothing : Learned::Full;
  }
  auto models = providers_.find(provider);
  if (models == providers_.end())
    models = providers_.emplace(std::string(provider), Models{}).first;
  auto answered = models->second.find(request.requested_model);
  if (answered == models->second.end()) {
    answered = models->second.emplace(request.requested_model, std::vector<std::string>{}).first;
  }
  answered->second.push_back(cost.priced_model);
  size_.fetch_add(1, std::memory_order_release);
  return Learned::Added;
}

}  // namespace spendgate::core
