#pragma once

#include <string>
#include <vector>

#include "core/enforcement/emergency_stop.hpp"
#include "core/pricing/money.hpp"
#include "core/store/counter_store_types.hpp"
#include "core/store/script_value.hpp"
#include "core/store/store_keys.hpp"

// The plain (non-script) Redis commands of the shared store and their replies.
namespace spendgate::core {

/** @return field, value, field, value... of the emergency-stop hash (every field, always). */
std::vector<std::string> emergencyStopFields(const EmergencyStopState& state);

/** @return the state from HGETALL's field/value list; an empty hash is the inactive state. */
StoreResult<EmergencyStopState> parseEmergencyStop(const ScriptValue& hgetall_reply);

/** @return {"HGETALL", <estop key>}. */
std::vector<std::string> getEmergencyStopCommand(const StoreKeys& keys);

/** @return {"HSET", <estop key>, fields...}: replaces every field in one command. */
std::vector<std::string> setEmergencyStopCommand(const StoreKeys& keys,
                                                 const EmergencyStopState& state);

/**
 * @return an EVAL that writes `next` (as setEmergencyStopCommand) only while the hash still has
 * `expected`'s active and since_ms, then answers HGETALL (parse with parseEmergencyStop).
 */
std::vector<std::string> replaceEmergencyStopCommand(const StoreKeys& keys,
                                                     const EmergencyStopState& expected,
                                                     const EmergencyStopState& next);

/** @return {"GET", <spend counter key>}. */
std::vector<std::string> getSpendCommand(const StoreKeys& keys, const std::string& spend_key);

/** @return the decimal picodollars of GET (nil = 0). */
StoreResult<Picodollars> parseSpend(const ScriptValue& get_reply);

}  // namespace spendgate::core
