#pragma once

#include <chrono>
#include <vector>

#include "core/store/counter_store_types.hpp"
#include "core/store/script_value.hpp"
#include "core/store/store_keys.hpp"

namespace spendgate::core {

/** The arguments and reply of core/store/lua/budgets.lua (see AdmitScript). */
class BudgetsScript {
public:
  static ScriptCall call(const StoreKeys& keys,
                         std::chrono::system_clock::time_point now,
                         bool server_time = false);

  /** @return the counters sorted by name, then subject (as MemoryCounterStore::budgets). */
  static StoreResult<std::vector<BudgetSnapshot>> parse(const StoreKeys& keys,
                                                        const ScriptValue& reply);

  /**
   * Parses the 11-field counter rows shared by budgets.lua and settle.lua, starting at `first`.
   * @return false on a malformed row
   */
  static bool parseRows(const StoreKeys& keys,
                        const std::vector<ScriptValue>& fields,
                        std::size_t first,
                        std::vector<BudgetSnapshot>& out);
};

}  // namespace spendgate::core
