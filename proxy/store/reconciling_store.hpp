#pragma once

#include <functional>
#include <string>

#include "core/store/counter_store_types.hpp"
#include "core/store/reconcile_script.hpp"

namespace spendgate::proxy {

/**
 * What a SHARED counter store offers beyond core::CounterStore so that the Enforcer can replay,
 * once the store is back, what fail_open counted locally during an outage. RedisCounterStore
 * implements it; the Enforcer finds it with dynamic_cast (the memory store has no outage).
 */
class ReconcilingStore {
public:
  using ReconcileCallback = std::function<void(core::StoreResult<core::ReconcileResult>)>;

  virtual ~ReconcilingStore() = default;

  /**
   * Adds one locally settled request's real cost to the shared counters, exactly once per
   * reservation id (reconcile.lua). The callback runs exactly once, on an event loop.
   */
  virtual void reconcile(const core::Reconciliation& reconciliation,
                         ReconcileCallback callback) = 0;

  /**
   * @return whether `error`, from a failed call of this store, means the store could not be
   * reached (no connection, timeout: retry later) rather than that it answered with an error.
   */
  virtual bool unavailable(const std::string& error) const = 0;

  /**
   * Sets the one listener called (on an event-loop thread) each time a connection to the shared
   * store comes (back) up. Pass nullptr to remove it; the store never calls a removed listener
   * after this returns, unless a call is already running on another thread.
   */
  virtual void setAvailabilityListener(std::function<void()> listener) = 0;
};

}  // namespace spendgate::proxy
