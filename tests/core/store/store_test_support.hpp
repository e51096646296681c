#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "core/enforcement/planner.hpp"
#include "core/store/counter_store.hpp"
#include "core/store/memory_counter_store.hpp"
#include "tests/core/manual_clock.hpp"
#include "tests/core/store/script_counter_store.hpp"

namespace spendgate::core::testing {

inline constexpr Picodollars kUsd = kPicodollarsPerUsd;

/** One redis-server per test process, started on first use; null when not installed. */
inline RedisTestServer* sharedRedis() {
  static std::unique_ptr<RedisTestServer> server = RedisTestServer::start();
  return server.get();
}

/**
 * Synchronous wrappers over a CounterStore (both test stores complete inline) that also check
 * every callback runs exactly once.
 */
class StoreDriver {
public:
  explicit StoreDriver(CounterStore& store) : store_(store) {}

  AdmissionResult admit(const EnforcementPlan& plan,
                        const std::string& id,
                        std::chrono::system_clock::time_point expires_at) {
    int calls = 0;
    AdmissionResult out;
    store_.admit(plan, id, expires_at, [&](AdmissionResult r) {
      ++calls;
      out = std::move(r);
    });
    EXPECT_EQ(calls, 1);
    EXPECT_NE(out.status, AdmissionResult::Status::StoreError) << out.error;
    return out;
  }

  SettleResult settle(const std::string& id,
                      Picodollars cost,
                      std::int64_t tokens,
                      std::chrono::system_clock::time_point now) {
    int calls = 0;
    StoreResult<SettleResult> out;
    store_.settle(Settlement{id, cost, tokens, now}, [&](StoreResult<SettleResult> r) {
      ++calls;
      out = std::move(r);
    });
    EXPECT_EQ(calls, 1);
    EXPECT_TRUE(out.ok()) << out.error;
    return out.value.value_or(SettleResult{});
  }

  std::vector<BudgetSnapshot> budgets(std::chrono::system_clock::time_point now) {
    StoreResult<std::vector<BudgetSnapshot>> out;
    store_.budgets(now, [&](auto r) { out = std::move(r); });
    EXPECT_TRUE(out.ok()) << out.error;
    return out.value.value_or(std::vector<BudgetSnapshot>{});
  }

  /** @return the counter of budget `name` for `subject` in the current period (zeros if none). */
  BudgetSnapshot counter(const std::string& name,
                         const std::string& subject,
                         std::chrono::system_clock::time_point now) {
    for (auto& b : budgets(now)) {
      if (b.name == name && b.subject == subject) return b;
    }
    return BudgetSnapshot{};
  }

  Picodollars spend(const std::string& key) {
    StoreResult<Picodollars> out;
    store_.spend(key, [&](auto r) { out = std::move(r); });
    EXPECT_TRUE(out.ok()) << out.error;
    return out.value.value_or(-1);
  }

  EmergencyStopState setEmergencyStop(const EmergencyStopState& state) {
    StoreResult<EmergencyStopState> out;
    store_.setEmergencyStop(state, [&](auto r) { out = std::move(r); });
    EXPECT_TRUE(out.ok()) << out.error;
    return out.value.value_or(EmergencyStopState{});
  }

  EmergencyStopState replaceEmergencyStop(const EmergencyStopState& expected,
                                          const EmergencyStopState& next) {
    StoreResult<EmergencyStopState> out;
    store_.replaceEmergencyStop(expected, next, [&](auto r) { out = std::move(r); });
    EXPECT_TRUE(out.ok()) << out.error;
    return out.value.value_or(EmergencyStopState{});
  }

  EmergencyStopState emergencyStop() {
    StoreResult<EmergencyStopState> out;
    store_.emergencyStop([&](auto r) { out = std::move(r); });
    EXPECT_TRUE(out.ok()) << out.error;
    return out.value.value_or(EmergencyStopState{});
  }

private:
  CounterStore& store_;
};

/** @return a store of `kind` ("memory" or "redis"), or null when redis is unavailable. */
inline std::shared_ptr<CounterStore> makeStore(const std::string& kind,
                                               const std::string& prefix = "t:") {
  if (kind == "memory") return std::make_shared<MemoryCounterStore>();
  RedisTestServer* server = sharedRedis();
  if (!server) return nullptr;
  auto c = server->connect();
  c->command({"FLUSHALL"});
  return std::make_shared<ScriptCounterStore>(*server, StoreKeys(prefix));
}

inline BudgetRule hardBudget(std::string name,
                             Picodollars limit,
                             Scope scope = Scope::Global,
                             Period period = Period::Day) {
  BudgetRule rule;
  rule.name = std::move(name);
  rule.scope = scope;
  rule.period = period;
  rule.limit = limit;
  rule.mode = BudgetMode::Hard;
  return rule;
}

inline RateLimitRule rateLimit(std::string name,
                               std::uint64_t rpm,
                               std::uint64_t tpm = 0,
                               std::uint64_t concurrent = 0,
                               Scope scope = Scope::Global) {
  RateLimitRule rule;
  rule.name = std::move(name);
  rule.scope = scope;
  rule.requests_per_minute = rpm;
  rule.tokens_per_minute = tpm;
  rule.concurrent = concurrent;
  return rule;
}

inline RequestAttributes caller(std::string user = "alice") {
  RequestAttributes a;
  a.provider = "openai";
  a.model = "gpt-4o-mini";
  a.key = "search-team";
  a.user = std::move(user);
  a.team = "search";
  return a;
}

}  // namespace spendgate::core::testing
