#include "core/store/settle_script.hpp"

#include <algorithm>

#include "core/enforcement/gcra.hpp"
#include "core/store/budgets_script.hpp"

namespace spendgate::core {

ScriptCall SettleScript::call(const StoreKeys& keys,
                              const Settlement& settlement,
                              bool server_time) {
  ScriptCall c;
  c.keys = {keys.expiries(), keys.reservation(settlement.reservation_id)};
  c.args = {server_time ? std::string() : std::to_string(unixMillis(settlement.now)),
            std::to_string(std::max<Picodollars>(0, settlement.actual_cost)),
            std::to_string(gcra::clampUnits(settlement.actual_tokens)),
            std::to_string(kReservationRecordRetention.count()), std::to_string(kExpirySweepLimit)};
  return c;
}

ScriptCall SettleScript::tombstone(const StoreKeys& keys,
                                   const std::string& reservation_id,
                                   std::chrono::system_clock::time_point now,
                                   bool server_time) {
  ScriptCall c = call(keys, Settlement{reservation_id, 0, 0, now}, server_time);
  c.args.push_back("1");
  return c;
}

StoreResult<SettleResult> SettleScript::parse(const StoreKeys& keys, const ScriptValue& reply) {
  using Result = StoreResult<SettleResult>;
  if (reply.type == ScriptValue::Type::Error) return Result::failure("settle.lua: " + reply.str);
  if (reply.type != ScriptValue::Type::Array || reply.elements.size() < 2) {
    return Result::failure("settle.lua: unexpected reply");
  }
  const auto& items = reply.elements;
  const auto tag = items[0].toText();
  SettleResult result;
  if (tag == "settled") {
    result.outcome = SettleOutcome::Settled;
  } else if (tag == "late") {
    result.outcome = SettleOutcome::SettledAfterExpiry;
  } else if (tag == "already") {
    result.outcome = SettleOutcome::AlreadySettled;
  } else if (tag == "unknown") {
    result.outcome = SettleOutcome::UnknownReservation;
  } else {
    return Result::failure("settle.lua: unexpected outcome");
  }
  if (const auto spend = items[1].toText(); spend && !spend->empty()) {
    const auto total = items[1].toInt();
    if (!total) return Result::failure("settle.lua: malformed spend");
    result.period_spend = *total;
  }
  if (!BudgetsScript::parseRows(keys, items, 2, result.budgets)) {
    return Result::failure("settle.lua: malformed counter rows");
  }
  return Result::success(std::move(result));
}

}  // namespace spendgate::core
