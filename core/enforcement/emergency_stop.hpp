#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "core/enforcement/rules.hpp"
#include "core/pricing/money.hpp"

namespace spendgate::core {

enum class EmergencyStopSource { Manual, Auto };

/** @return "manual" or "auto". */
std::string_view emergencyStopSourceName(EmergencyStopSource source);

/**
 * The emergency stop as the admin API shows it (SPEC §5) plus one bookkeeping field. A value
 * type: the store keeps the shared copy, the functions below compute the next one.
 */
struct EmergencyStopState {
  bool active = false;
  std::string reason;
  std::chrono::system_clock::time_point since{};               // last change (on or off)
  std::optional<std::chrono::system_clock::time_point> until;  // nullopt: until turned off
  EmergencyStopSource source = EmergencyStopSource::Manual;
  /**
   * Set when an operator turns off an automatic stop: the auto trigger stays quiet until the end
   * of the period it tripped in, or it would trip again on the next request.
   */
  std::optional<std::chrono::system_clock::time_point> auto_suppressed_until;

  friend bool operator==(const EmergencyStopState&, const EmergencyStopState&) = default;
};

/** @return true when the stop refuses requests at `now`: active and `until` not reached. */
bool emergencyStopBlocks(const EmergencyStopState& state,
                         std::chrono::system_clock::time_point now);

/** @return time left until `until`, or nullopt when inactive or without an end. */
std::optional<std::chrono::milliseconds> emergencyStopRetryAfter(
    const EmergencyStopState& state, std::chrono::system_clock::time_point now);

/**
 * Operator turns the stop on (`POST /admin/emergency-stop {"active":true,"reason","for"}`).
 * @param duration `for`; nullopt = until turned off. Keeps any auto suppression.
 */
EmergencyStopState manualStop(const EmergencyStopState& state,
                              std::string reason,
                              std::optional<std::chrono::milliseconds> duration,
                              std::chrono::system_clock::time_point now);

/**
 * Operator turns the stop off. Turning off an automatic stop suppresses the auto trigger until
 * the end of the current `rule.auto_stop.period`, so traffic resumes for the rest of the period.
 */
EmergencyStopState manualResume(const EmergencyStopState& state,
                                const EmergencyStopRule& rule,
                                std::chrono::system_clock::time_point now);

/**
 * Time moved on: an active stop whose `until` has passed (manual or auto) becomes the state it
 * would have if turned off at `until`: inactive, reason "", since = the old until, until nullopt
 * (source and auto suppression kept). Every instance computes the same state from the same stop,
 * so writing it back twice is harmless. @return `state` unchanged when it has not run out.
 */
EmergencyStopState expireEmergencyStop(const EmergencyStopState& state,
                                       std::chrono::system_clock::time_point now);

/**
 * Time and spend moved on. In order:
 *  1. an active stop whose `until` has passed turns off (expireEmergencyStop);
 *  2. an inactive stop trips (source auto) when `rule.auto_stop` is set, `spend_in_period` (global
 *     spend in the current auto period) is at least `auto_stop.spend` and no suppression is in
 *     force. It then holds until now + hold. Both steps run in one call, so when the hold has
 *     passed and spend in the period is still at or above the threshold, the stop trips again
 *     with a fresh `since` and `until`. hold = 0 and period total mean "until turned off".
 * @return the next state; equal to `state` when nothing changes.
 */
EmergencyStopState evaluateEmergencyStop(const EmergencyStopState& state,
                                         const EmergencyStopRule& rule,
                                         Picodollars spend_in_period,
                                         std::chrono::system_clock::time_point now);

}  // namespace spendgate::core
