#pragma once

#include <chrono>
#include <string>

#include "core/enforcement/enforcement_plan.hpp"
#include "core/store/counter_store_types.hpp"
#include "core/store/script_value.hpp"
#include "core/store/store_keys.hpp"

namespace spendgate::core {

/**
 * The arguments and reply of core/store/lua/admit.lua, so that a Redis CounterStore is only
 * transport: `EVALSHA sha keys.size() keys... args...`, then parse() the reply.
 */
class AdmitScript {
public:
  /**
   * @param server_time use Redis TIME instead of plan.now (one clock for every instance); the
   *        reservation then lives `expires_at - plan.now` from the server's now
   */
  static ScriptCall call(const StoreKeys& keys,
                         const EnforcementPlan& plan,
                         const std::string& reservation_id,
                         std::chrono::system_clock::time_point expires_at,
                         bool server_time = false);

  /** @return the admission for `plan` (Denials are built as MemoryCounterStore builds them). */
  static AdmissionResult parse(const EnforcementPlan& plan, const ScriptValue& reply);
};

}  // namespace spendgate::core
