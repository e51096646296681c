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

  /**
   * Releases reservation `reservation_id` (cost 0) whose admit got no reply (lost with its
   * connection): an active reservation is released as by call(); if Redis has no record yet,
   * it writes one in state settled (kept kReservationRecordRetention), so that the admit, if
   * Redis runs it later, answers `reused` and reserves nothing. The reply parses as call()'s.
   */
  static ScriptCall tombstone(const StoreKeys& keys,
                              const std::string& reservation_id,
                              std::chrono::system_clock::time_point now,
                              bool server_time = false);

  static StoreResult<SettleResult> parse(const StoreKeys& keys, const ScriptValue& reply);
};

}  // namespace spendgate::core
