#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/metering/request_info.hpp"
#include "core/pricing/pricer.hpp"

namespace spendgate::core {

/**
 * What a provider has answered a request model as, when that answer was priced above the request's
 * worst case. An Azure deployment of gpt-4o 2024-05-13 mapped to `gpt-4o` answers
 * `"model": "gpt-4o-2024-05-13"`, which the catalog prices at 5/15 and the answer settles at
 * (`catalog:exact-response`), while the worst case is priced at `gpt-4o` (2.50/10). Once such an
 * answer is seen, the worst case of the same provider's later `gpt-4o` requests is bounded at
 * the dearer rates too, so their reservation and `max_cost_usd` check hold what they settle at.
 * Only the first answer(s) of each process can pass their reservation.
 *
 * Names only: the rates are looked up in the current catalog, so the memory survives a reload,
 * and a catalog that no longer prices the answered model higher just makes it count for nothing.
 * Empty in normal traffic; then a worst case takes no lock. Bounded: once `capacity` names are
 * kept nothing more is learned, so an upstream naming random models cannot grow it.
 * Process-wide and thread-safe.
 */
class ServedModelMemory {
public:
  static constexpr std::size_t kDefaultCapacity = 1024;

  /** What learn() did. */
  enum class Learned : std::uint8_t {
    Nothing,  // the answer was priced within the worst case, or it is already known
    Added,    // a new (provider, request model) -> answered model: reported once
    Full,     // one could not be kept, the first time: reported once per process
  };

  explicit ServedModelMemory(std::size_t capacity = kDefaultCapacity) : capacity_(capacity) {}
  ServedModelMemory(const ServedModelMemory&) = delete;
  ServedModelMemory& operator=(const ServedModelMemory&) = delete;

  /**
   * @return pricer.worstCase(request), bounded also at the rates of every model `provider` has
   *         answered `request.requested_model` as (learn). Takes no lock while nothing is learned.
   */
  WorstCase worstCase(const Pricer& pricer,
                      std::string_view provider,
                      const RequestInfo& request) const;

  /**
   * Remembers that `provider` answered `request` as `cost.priced_model` when the answer was priced
   * by the answer's model (a `*-response` rule) at an entry whose rates are above those `worst`
   * (the request's worst case, from worstCase()) was priced at.
   * @return Added the first time that name is kept for that request model; Full the first time
   *         one cannot be kept because the memory is full; else Nothing
   */
  Learned learn(const Pricer& pricer,
                std::string_view provider,
                const RequestInfo& request,
                const WorstCase& worst,
                const Cost& cost);

  /** @return how many answered model names can be kept. */
  std::size_t capacity() const { return capacity_; }
  /** @return how many answered model names are kept. */
  std::size_t size() const { return size_.load(std::memory_order_acquire); }

private:
  struct NameHash {
    using is_transparent = void;  // looked up by string_view: no copy of the name per request
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  template <class Value>
  using ByName = std::unordered_map<std::string, Value, NameHash, std::equal_to<>>;
  /** Request model -> the names it was answered as (each dearer than the bound it had then). */
  using Models = ByName<std::vector<std::string>>;

  const std::size_t capacity_;
  std::atomic<std::size_t> size_{0};  // read before any lock: 0 is the fast path
  std::atomic<bool> full_reported_{false};
  mutable std::shared_mutex mutex_;
  ByName<Models> providers_;
};

}  // namespace spendgate::core
