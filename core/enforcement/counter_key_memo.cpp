#include "core/enforcement/counter_key_memo.hpp"

#include "core/enforcement/planner.hpp"

namespace spendgate::core {

CounterKeyMemo::Entry& CounterKeyMemo::entry(std::vector<Entry>& entries,
                                             std::size_t index,
                                             std::string_view name,
                                             std::string_view subject,
                                             std::chrono::system_clock::time_point start,
                                             bool& rebuild) {
  if (entries.size() <= index) entries.resize(index + 1);
  Entry& e = entries[index];
  rebuild = !e.built || e.start != start || e.name != name || e.subject != subject;
  if (rebuild) {
    e.built = true;
    e.name.assign(name);
    e.subject.assign(subject);
    e.start = start;
  }
  return e;
}

const std::string& CounterKeyMemo::rateLimitKey(std::size_t index,
                                                std::string_view name,
                                                std::string_view subject) {
  bool rebuild = false;
  Entry& e = entry(rates_, index, name, subject, {}, rebuild);
  if (rebuild) e.key = core::rateLimitKey(name, subject);
  return e.key;
}

const std::string& CounterKeyMemo::budgetCounterKey(std::size_t index,
                                                    std::string_view name,
                                                    std::string_view subject,
                                                    std::chrono::system_clock::time_point start) {
  bool rebuild = false;
  Entry& e = entry(budgets_, index, name, subject, start, rebuild);
  if (rebuild) e.key = core::budgetCounterKey(name, subject, start);
  return e.key;
}

}  // namespace spendgate::core
