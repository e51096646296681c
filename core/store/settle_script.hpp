#pragma once

#include "core/store/counter_store_types.hpp"
#include "core/store/script_value.hpp"
#include "core/store/store_keys.hpp"

namespace spendgate::core {

/** The arguments and reply of core/store/lua/settle.lua (see AdmitScript). */
class SettleScript {
public:
  /** @param server_time use Redis TIME instead of settlement.now */
  static ScriptCall call(const StoreKeys& keys,
                         const Settlement& settlement,
                         bool server_time = false);

  static StoreResult<SettleResult> parse(const StoreKeys& keys, const ScriptValue& reply);
};

}  // namespace spendgate::core
