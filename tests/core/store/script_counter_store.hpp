#pragma once

// A test-only CounterStore that runs core/store/lua/*.lua on a real redis-server through the
// pure protocol classes (AdmitScript, SettleScript, BudgetsScript, store_commands). The proxy's
// Redis store does the same over hiredis; this one blocks, which is fine in tests.

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "core/store/admit_script.hpp"
#include "core/store/budgets_script.hpp"
#include "core/store/counter_store.hpp"
#include "core/store/settle_script.hpp"
#include "core/store/store_commands.hpp"
#include "core/store/store_keys.hpp"
#include "tests/core/store/redis_test_server.hpp"

namespace spendgate::core::testing {

/** @return the text of the file core/store/lua/<name>. */
inline std::string readLuaFile(const std::string& name) {
  std::ifstream in(std::string(SPENDGATE_SOURCE_DIR) + "/core/store/lua/" + name);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

/**
 * @return core/store/lua/<name> as it runs in Redis: its `--#include common.lua` line replaced by
 * common.lua, as the build does when it embeds the scripts (core/CMakeLists.txt).
 */
inline std::string readLuaScript(const std::string& name) {
  std::string text = readLuaFile(name);
  const std::string marker = "\n--#include common.lua\n";
  if (const auto at = text.find(marker); at != std::string::npos) {
    text.replace(at, marker.size(), "\n" + readLuaFile("common.lua"));
  }
  return text;
}

class ScriptCounterStore final : public CounterStore {
public:
  ScriptCounterStore(const RedisTestServer& server, StoreKeys keys)
      : server_(server), keys_(std::move(keys)) {
    auto c = server_.connect();
    for (const auto& [name, sha] : {std::pair{"admit.lua", &admit_sha_},
                                    {"settle.lua", &settle_sha_},
                                    {"budgets.lua", &budgets_sha_}}) {
      const ScriptValue reply = c->command({"SCRIPT", "LOAD", readLuaScript(name)});
      EXPECT_EQ(reply.type, ScriptValue::Type::String) << name << ": " << reply.str;
      *sha = reply.str;
    }
    release(std::move(c));
  }

  void admit(const EnforcementPlan& plan,
             const std::string& reservation_id,
             std::chrono::system_clock::time_point expires_at,
             AdmitCallback callback) override {
    if (plan.denial) {
      AdmissionResult result;
      result.status = AdmissionResult::Status::Denied;
      result.denial = plan.denial;
      return callback(result);
    }
    const ScriptCall call =
        AdmitScript::call(keys_, plan, reservation_id, expires_at, server_time_);
    callback(AdmitScript::parse(plan, eval(admit_sha_, call)));
  }

  void settle(const Settlement& settlement, SettleCallback callback) override {
    const ScriptCall call = SettleScript::call(keys_, settlement, server_time_);
    callback(SettleScript::parse(keys_, eval(settle_sha_, call)));
  }

  void budgets(std::chrono::system_clock::time_point now, BudgetsCallback callback) override {
    callback(BudgetsScript::parse(keys_, eval(budgets_sha_, BudgetsScript::call(keys_, now))));
  }

  void spend(const std::string& spend_key, SpendCallback callback) override {
    callback(parseSpend(run(getSpendCommand(keys_, spend_key))));
  }

  void emergencyStop(EmergencyStopCallback callback) override {
    callback(parseEmergencyStop(run(getEmergencyStopCommand(keys_))));
  }

  void setEmergencyStop(const EmergencyStopState& state, EmergencyStopCallback callback) override {
    const ScriptValue reply = run(setEmergencyStopCommand(keys_, state));
    if (reply.type == ScriptValue::Type::Error) {
      return callback(StoreResult<EmergencyStopState>::failure(reply.str));
    }
    callback(StoreResult<EmergencyStopState>::success(state));
  }

  void replaceEmergencyStop(const EmergencyStopState& expected,
                            const EmergencyStopState& next,
                            EmergencyStopCallback callback) override {
    callback(parseEmergencyStop(run(replaceEmergencyStopCommand(keys_, expected, next))));
  }

  bool up() const override { return true; }

  /** Use Redis TIME instead of the callers' clocks. */
  void useServerTime(bool on) { server_time_ = on; }

  /** Runs a raw command (test inspection). */
  ScriptValue run(const std::vector<std::string>& command) {
    auto c = acquire();
    ScriptValue reply = c->command(command);
    release(std::move(c));
    return reply;
  }

private:
  ScriptValue eval(const std::string& sha, const ScriptCall& call) {
    std::vector<std::string> command = {"EVALSHA", sha, std::to_string(call.keys.size())};
    command.insert(command.end(), call.keys.begin(), call.keys.end());
    command.insert(command.end(), call.args.begin(), call.args.end());
    return run(command);
  }

  // One connection per concurrent caller, reused.
  std::unique_ptr<RespConnection> acquire() {
    {
      std::lock_guard lock(mutex_);
      if (!pool_.empty()) {
        auto c = std::move(pool_.back());
        pool_.pop_back();
        return c;
      }
    }
    return server_.connect();
  }
  void release(std::unique_ptr<RespConnection> c) {
    std::lock_guard lock(mutex_);
    pool_.push_back(std::move(c));
  }

  const RedisTestServer& server_;
  StoreKeys keys_;
  std::string admit_sha_, settle_sha_, budgets_sha_;
  bool server_time_ = false;
  std::mutex mutex_;
  std::vector<std::unique_ptr<RespConnection>> pool_;
};

}  // namespace spendgate::core::testing
