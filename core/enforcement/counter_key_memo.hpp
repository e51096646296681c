#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace spendgate::core {

/**
 * The counter keys plan() built last, one per rule position: consecutive requests of the same
 * caller charge the same counters, so their keys are copied instead of escaped and formatted
 * again. An entry is checked against everything its key is made of (rule name, subject, period
 * start), so a reload, another caller or a new period only costs a rebuild. Not thread-safe:
 * one per worker thread.
 */
class CounterKeyMemo {
public:
  /** @return rateLimitKey(name, subject), remembered for the rate limit at `index`. */
  const std::string& rateLimitKey(std::size_t index,
                                  std::string_view name,
                                  std::string_view subject);

  /** @return budgetCounterKey(name, subject, start), remembered for the budget at `index`. */
  const std::string& budgetCounterKey(std::size_t index,
                                      std::string_view name,
                                      std::string_view subject,
                                      std::chrono::system_clock::time_point start);

private:
  struct Entry {
    bool built = false;
    std::string name;
    std::string subject;
    std::chrono::system_clock::time_point start;
    std::string key;
  };

  /** The entry at `index`, made over from these parts (its key left to rebuild) if it was not. */
  static Entry& entry(std::vector<Entry>& entries,
                      std::size_t index,
                      std::string_view name,
                      std::string_view subject,
                      std::chrono::system_clock::time_point start,
                      bool& rebuild);

  std::vector<Entry> rates_;
  std::vector<Entry> budgets_;
};

}  // namespace spendgate::core
