#include "core/enforcement/emergency_stop.hpp"

#include "core/enforcement/period.hpp"

namespace spendgate::core {

using std::chrono::system_clock;

std::string_view emergencyStopSourceName(EmergencyStopSource source) {
  return source == EmergencyStopSource::Auto ? "auto" : "manual";
}

bool emergencyStopBlocks(const EmergencyStopState& state, system_clock::time_point now) {
  return state.active && (!state.until || now < *state.until);
}

std::optional<std::chrono::milliseconds> emergencyStopRetryAfter(const EmergencyStopState& state,
                                                                 system_clock::time_point now) {
  if (!emergencyStopBlocks(state, now) || !state.until) return std::nullopt;
  return std::chrono::ceil<std::chrono::milliseconds>(*state.until - now);
}

EmergencyStopState manualStop(const EmergencyStopState& state,
                              std::string reason,
                              std::optional<std::chrono::milliseconds> duration,
                              system_clock::time_point now) {
  EmergencyStopState next;
  next.active = true;
  next.reason = std::move(reason);
  next.since = now;
  if (duration) next.until = now + *duration;
  next.source = EmergencyStopSource::Manual;
  next.auto_suppressed_until = state.auto_suppressed_until;
  return next;
}

EmergencyStopState manualResume(const EmergencyStopState& state,
                                const EmergencyStopRule& rule,
                                system_clock::time_point now) {
  EmergencyStopState next;
  next.since = now;
  next.source = EmergencyStopSource::Manual;
  next.auto_suppressed_until = state.auto_suppressed_until;
  if (state.active && state.source == EmergencyStopSource::Auto && rule.auto_stop) {
    next.auto_suppressed_until = periodWindow(rule.auto_stop->period, now).end;
  }
  if (next.auto_suppressed_until && *next.auto_suppressed_until <= now) {
    next.auto_suppressed_until.reset();
  }
  return next;
}

EmergencyStopState expireEmergencyStop(const EmergencyStopState& state,
                                       system_clock::time_point now) {
  if (!state.active || !state.until || now < *state.until) return state;
  // Read exactly like manualResume at `until`, so the admin API cannot tell the two apart.
  EmergencyStopState next = state;
  next.active = false;
  next.reason.clear();
  next.since = *state.until;
  next.until.reset();
  return next;
}

EmergencyStopState evaluateEmergencyStop(const EmergencyStopState& state,
                                         const EmergencyStopRule& rule,
                                         Picodollars spend_in_period,
                                         system_clock::time_point now) {
  EmergencyStopState next = expireEmergencyStop(state, now);
  if (next.auto_suppressed_until && now >= *next.auto_suppressed_until) {
    next.auto_suppressed_until.reset();
  }
  if (next.active || !rule.auto_stop || next.auto_suppressed_until) return next;
  const auto& trigger = *rule.auto_stop;
  if (spend_in_period <= trigger.spend) return next;  // SPEC §2: trips when spend passes it

  next.active = true;
  next.source = EmergencyStopSource::Auto;
  next.since = now;
  // "this day", "this month"; a `total` period is all time ("this total" is no English).
  const std::string when = trigger.period == Period::Total
                               ? "in total"
                               : "this " + std::string(periodName(trigger.period));
  next.reason = "global spend $" + formatUsd(spend_in_period) + " " + when +
                " passed the automatic stop at $" + formatUsd(trigger.spend);
  // `until` is the hold and nothing more, so the admin API and retry-after tell the truth. A
  // period still over the threshold when it ends trips again at the next settle. A `total` period
  // never resets, so a hold could only let traffic through until that settle: it stays on.
  next.until.reset();
  if (trigger.hold.count() > 0 && trigger.period != Period::Total) next.until = now + trigger.hold;
  return next;
}

}  // namespace spendgate::core
