#include "core/store/admit_script.hpp"

#include <algorithm>

#include "core/enforcement/denial_messages.hpp"
#include "core/enforcement/rate_limit_headers.hpp"
#include "core/store/store_commands.hpp"

namespace spendgate::core {

namespace {

std::string str(std::int64_t value) { return std::to_string(value); }

AdmissionResult storeError(std::string message) {
  AdmissionResult result;
  result.status = AdmissionResult::Status::StoreError;
  result.error = "admit.lua: " + std::move(message);
  return result;
}

/** Reads the (rq, tk, inflight) level triples from `first` on; false when malformed. */
bool readLevels(const std::vector<ScriptValue>& items,
                std::size_t first,
                std::size_t count,
                std::vector<RateLevels>& levels) {
  if (items.size() != first + 3 * count) return false;
  for (std::size_t i = 0; i < count; ++i) {
    const auto rq = items[first + 3 * i].toInt();
    const auto tk = items[first + 3 * i + 1].toInt();
    const auto inflight = items[first + 3 * i + 2].toInt();
    if (!rq || !tk || !inflight) return false;
    levels.push_back({*rq, *tk, *inflight});
  }
  return true;
}

}  // namespace

ScriptCall AdmitScript::call(const StoreKeys& keys,
                             const EnforcementPlan& plan,
                             const std::string& reservation_id,
                             std::chrono::system_clock::time_point expires_at,
                             bool server_time) {
  ScriptCall c;
  c.keys = {keys.emergencyStop(), keys.expiries(), keys.reservation(reservation_id),
            keys.budgetIndex()};
  for (const RateCharge& r : plan.rate_limits) c.keys.push_back(keys.counter(r.key));
  for (const BudgetCharge& b : plan.budgets) c.keys.push_back(keys.counter(b.counter_key));
  if (plan.spend) c.keys.push_back(keys.counter(plan.spend->key));

  const std::int64_t now_ms = unixMillis(plan.now);
  c.args = {server_time ? std::string() : str(now_ms),
            str(std::max<std::int64_t>(0, unixMillis(expires_at) - now_ms)),
            str(kReservationRecordRetention.count()),
            str(static_cast<std::int64_t>(kExpirySweepLimit)),
            str(static_cast<std::int64_t>(plan.rate_limits.size())),
            str(static_cast<std::int64_t>(plan.budgets.size())),
            plan.spend ? "1" : "0",
            plan.spend
                ? str(unixMillis(plan.spend->window.end) + kReservationRecordRetention.count())
                : "0",
            str(plan.token_estimate)};
  for (const RateCharge& r : plan.rate_limits) {
    c.args.insert(c.args.end(), {str(r.requests_per_minute), str(r.tokens_per_minute),
                                 str(r.concurrent), str(r.tokens)});
  }
  for (const BudgetCharge& b : plan.budgets) {
    c.args.insert(c.args.end(),
                  {str(b.limit), str(b.amount), b.mode == BudgetMode::Hard ? "1" : "0",
                   str(unixMillis(b.window.start)), str(unixMillis(b.window.end)), b.name,
                   std::string(scopeName(b.scope)), b.subject, std::string(periodName(b.period))});
  }
  return c;
}

AdmissionResult AdmitScript::parse(const EnforcementPlan& plan, const ScriptValue& reply) {
  if (reply.type == ScriptValue::Type::Error) return storeError(reply.str);
  if (reply.type != ScriptValue::Type::Array || reply.elements.empty()) {
    return storeError("unexpected reply");
  }
  const auto& items = reply.elements;
  const std::optional<std::string> tag = items[0].toText();
  const std::size_t nr = plan.rate_limits.size();
  if (tag == "allowed") {
    std::vector<RateLevels> levels;
    if (!readLevels(items, 1, nr, levels)) return storeError("malformed allowed reply");
    AdmissionResult result;
    result.status = AdmissionResult::Status::Allowed;
    result.rate_limits = rateLimitHeaders(plan.rate_limits, levels);
    return result;
  }
  if (tag == "duplicate") {
    AdmissionResult result;
    result.status = AdmissionResult::Status::Allowed;
    return result;
  }
  if (tag == "reused") return storeError("reservation id was already settled or expired");
  if (tag == "estop") {
    const auto state = parseEmergencyStop(
        ScriptValue::fromArray(std::vector<ScriptValue>(items.begin() + 1, items.end())));
    if (!state.ok()) return storeError(state.error);
    AdmissionResult denied = AdmissionResult::refused(emergencyStopDenial(*state.value, plan.now));
    denied.emergency_stop = *state.value;
    return denied;
  }
  if (tag == "rate" && items.size() >= 4) {
    const auto index = items[1].toInt();
    const auto kind_text = items[2].toText();
    const auto wait = items[3].toInt();
    std::vector<RateLevels> levels;
    if (!index || *index < 1 || static_cast<std::size_t>(*index) > nr || !kind_text || !wait ||
        !readLevels(items, 4, nr, levels)) {
      return storeError("malformed rate reply");
    }
    RateLimitKind kind = RateLimitKind::Requests;
    if (*kind_text == "tokens") kind = RateLimitKind::Tokens;
    if (*kind_text == "concurrent") kind = RateLimitKind::Concurrent;
    const RateLimitHeaders headers = rateLimitHeaders(plan.rate_limits, levels);
    const std::optional<std::int64_t> wait_ms =
        *wait < 0 ? std::nullopt : std::optional<std::int64_t>(*wait);
    return AdmissionResult::refused(
        rateLimitDenial(plan.rate_limits[*index - 1], kind, wait_ms, headers, plan.output_cap),
        headers);
  }
  if (tag == "budget" && items.size() >= 5) {
    const auto index = items[1].toInt();
    const auto spent = items[2].toInt();
    const auto reserved = items[3].toInt();
    std::vector<RateLevels> levels;
    if (!index || *index < 1 || static_cast<std::size_t>(*index) > plan.budgets.size() || !spent ||
        !reserved || !readLevels(items, 5, nr, levels)) {
      return storeError("malformed budget reply");
    }
    AdmissionResult denied = AdmissionResult::refused(
        budgetDenial(plan.budgets[*index - 1], *spent, *reserved, plan.now),
        rateLimitHeaders(plan.rate_limits, levels));
    denied.reclaiming = items[4].toText() == "reclaim";
    return denied;
  }
  return storeError("unexpected reply tag");
}

}  // namespace spendgate::core
