#include "core/store/lease_script.hpp"

namespace spendgate::core {

namespace {

std::string str(std::int64_t value) { return std::to_string(value); }

constexpr std::size_t kEntryArgs = 13;

void pad(std::vector<std::string>& args, std::size_t first) {
  while (args.size() < first + kEntryArgs) args.emplace_back();
}

}  // namespace

ScriptCall LeaseScript::call(const StoreKeys& keys,
                             const std::string& instance,
                             const LeaseFlush& flush,
                             const LeaseSizing& sizing,
                             bool server_time) {
  ScriptCall c;
  c.keys = {keys.leaseSequence(instance), keys.budgetIndex()};
  const std::size_t n = flush.budgets.size() + flush.rates.size() + flush.spends.size();
  c.args = {server_time ? std::string() : str(unixMillis(flush.now)),
            instance,
            std::to_string(flush.seq),
            str(sizing.ttl.count()),
            str(static_cast<std::int64_t>(n)),
            str(sizing.factor),
            str(sizing.divisor)};
  for (const auto& b : flush.budgets) {
    const BudgetCharge& m = b.counter;
    c.keys.push_back(keys.counter(m.counter_key));
    const std::size_t first = c.args.size();
    c.args.insert(c.args.end(),
                  {"b", str(m.limit), m.mode == BudgetMode::Hard ? "1" : "0",
                   str(unixMillis(m.window.start)), str(unixMillis(m.window.end)), m.name,
                   std::string(scopeName(m.scope)), m.subject, std::string(periodName(m.period)),
                   str(b.spent_delta), str(b.release), str(b.unit), str(b.held)});
    pad(c.args, first);
  }
  for (const auto& r : flush.rates) {
    c.keys.push_back(keys.counter(r.rate.key));
    const std::size_t first = c.args.size();
    c.args.insert(c.args.end(), {"r", str(r.rate.requests_per_minute),
                                 str(r.rate.tokens_per_minute), str(r.refund_requests),
                                 str(r.refund_tokens), str(r.want_requests), str(r.want_tokens)});
    pad(c.args, first);
  }
  for (const auto& s : flush.spends) {
    c.keys.push_back(keys.counter(s.spend.key));
    const std::size_t first = c.args.size();
    c.args.insert(c.args.end(),
                  {"s", str(unixMillis(s.spend.window.end) + kReservationRecordRetention.count()),
                   str(s.delta)});
    pad(c.args, first);
  }
  return c;
}

StoreResult<LeaseReply> LeaseScript::parse(const LeaseFlush& flush, const ScriptValue& reply) {
  using Result = StoreResult<LeaseReply>;
  if (reply.type == ScriptValue::Type::Error) return Result::failure("lease.lua: " + reply.str);
  const std::size_t n = flush.budgets.size() + flush.rates.size() + flush.spends.size();
  if (reply.type != ScriptValue::Type::Array || reply.elements.size() != n + 1) {
    return Result::failure("lease.lua: unexpected reply");
  }
  const auto tag = reply.elements[0].toText();
  if (tag != "ok" && tag != "replay") return Result::failure("lease.lua: unexpected tag");
  LeaseReply out;
  out.replay = tag == "replay";
  std::size_t i = 1;
  auto ints = [&](std::size_t count, std::vector<std::int64_t>& values) {
    const ScriptValue& e = reply.elements[i++];
    if (e.type != ScriptValue::Type::Array || e.elements.size() != count) return false;
    values.clear();
    for (const auto& v : e.elements) {
      const auto x = v.toInt();
      if (!x) return false;
      values.push_back(*x);
    }
    return true;
  };
  std::vector<std::int64_t> v;
  for (std::size_t k = 0; k < flush.budgets.size(); ++k) {
    if (!ints(6, v)) return Result::failure("lease.lua: malformed budget entry");
    out.budgets.push_back({v[0] == 1, v[1], v[2], v[3], v[4], v[5] == 1});
  }
  for (std::size_t k = 0; k < flush.rates.size(); ++k) {
    if (!ints(4, v)) return Result::failure("lease.lua: malformed rate entry");
    out.rates.push_back({v[0], v[1], v[2], v[3]});
  }
  for (std::size_t k = 0; k < flush.spends.size(); ++k) {
    if (!ints(1, v)) return Result::failure("lease.lua: malformed spend entry");
    out.spends.push_back(v[0]);
  }
  return Result::success(std::move(out));
}

}  // namespace spendgate::core
