#include "core/store/budgets_script.hpp"

#include <algorithm>
#include <tuple>

#include "core/enforcement/period.hpp"

namespace spendgate::core {

namespace {
constexpr std::size_t kRowFields = 12;
}  // namespace

ScriptCall BudgetsScript::call(const StoreKeys& keys,
                               std::chrono::system_clock::time_point now,
                               bool server_time) {
  ScriptCall c;
  c.keys = {keys.expiries(), keys.budgetIndex()};
  c.args = {server_time ? std::string() : std::to_string(unixMillis(now)),
            std::to_string(kReservationRecordRetention.count()), std::to_string(kExpirySweepLimit)};
  return c;
}

bool BudgetsScript::parseRows(const StoreKeys& keys,
                              const std::vector<ScriptValue>& fields,
                              std::size_t first,
                              std::vector<BudgetSnapshot>& out) {
  if (first > fields.size() || (fields.size() - first) % kRowFields != 0) return false;
  for (std::size_t i = first; i < fields.size(); i += kRowFields) {
    const auto key = fields[i].toText();
    const auto name = fields[i + 1].toText();
    const auto scope = fields[i + 2].toText();
    const auto subject = fields[i + 3].toText();
    const auto period = fields[i + 4].toText();
    const auto start = fields[i + 5].toInt();
    const auto end = fields[i + 6].toInt();
    const auto limit = fields[i + 7].toInt();
    const auto spent = fields[i + 8].toInt();
    const auto reserved = fields[i + 9].toInt();
    const auto mode = fields[i + 10].toText();
    const auto leased = fields[i + 11].toInt();
    if (!leased || !key || !name || !scope || !subject || !period || !start || !end || !limit ||
        !spent || !reserved || !mode) {
      return false;
    }
    const auto scope_value = scopeFromName(*scope);
    const auto period_value = periodFromName(*period);
    const auto mode_value = budgetModeFromName(*mode);
    if (!scope_value || !period_value || !mode_value) return false;
    BudgetSnapshot s;
    s.counter_key = keys.planKey(*key);
    s.name = *name;
    s.scope = *scope_value;
    s.subject = *subject;
    s.period = *period_value;
    s.window = {fromUnixMillis(*start), fromUnixMillis(*end)};
    s.limit = *limit;
    s.spent = *spent;
    s.reserved = *reserved;
    s.mode = *mode_value;
    s.leased = *leased;
    out.push_back(std::move(s));
  }
  return true;
}

StoreResult<std::vector<BudgetSnapshot>> BudgetsScript::parse(const StoreKeys& keys,
                                                              const ScriptValue& reply) {
  using Result = StoreResult<std::vector<BudgetSnapshot>>;
  if (reply.type == ScriptValue::Type::Error) return Result::failure("budgets.lua: " + reply.str);
  if (reply.type != ScriptValue::Type::Array)
    return Result::failure("budgets.lua: unexpected reply");
  std::vector<BudgetSnapshot> list;
  if (!parseRows(keys, reply.elements, 0, list)) {
    return Result::failure("budgets.lua: malformed counter rows");
  }
  std::sort(list.begin(), list.end(), [](const BudgetSnapshot& a, const BudgetSnapshot& b) {
    return std::tie(a.name, a.subject, a.counter_key) < std::tie(b.name, b.subject, b.counter_key);
  });
  return Result::success(std::move(list));
}

}  // namespace spendgate::core
