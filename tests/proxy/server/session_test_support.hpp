// What the client-session tests with a real worker share: a counter store that is the memory store
// with one method to override, a plain chat answer, and a fake upstream that answers with it.
#pragma once

#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <string>
#include <string_view>

#include "config/config_loader.hpp"
#include "core/store/memory_counter_store.hpp"
#include "proxy/net.hpp"
#include "proxy/server/runtime.hpp"

namespace spendgate::proxy::test_support {

/** The memory store; a test overrides settleAtOnce (which settle() also goes through). */
class ForwardingMemoryStore : public core::CounterStore {
public:
  void admit(const core::EnforcementPlan& plan,
             const std::string& id,
             std::chrono::system_clock::time_point expires_at,
             AdmitCallback callback) override {
    memory_.admit(plan, id, expires_at, std::move(callback));
  }
  std::optional<core::AdmissionResult> admitAtOnce(
      const core::EnforcementPlan& plan,
      const std::string& id,
      std::chrono::system_clock::time_point expires_at) override {
    return memory_.admitAtOnce(plan, id, expires_at);
  }
  void settle(const core::Settlement& settlement, SettleCallback callback) override {
    core::SettleResult result;
    settleAtOnce(settlement, result);
    callback(core::StoreResult<core::SettleResult>::success(std::move(result)));
  }
  bool settleAtOnce(const core::Settlement& settlement, core::SettleResult& result) override {
    return memory_.settleAtOnce(settlement, result);
  }
  void budgets(std::chrono::system_clock::time_point now, BudgetsCallback callback) override {
    memory_.budgets(now, std::move(callback));
  }
  void spend(const std::string& key, SpendCallback callback) override {
    memory_.spend(key, std::move(callback));
  }
  void emergencyStop(EmergencyStopCallback callback) override {
    memory_.emergencyStop(std::move(callback));
  }
  void setEmergencyStop(const core::EmergencyStopState& state,
                        EmergencyStopCallback callback) override {
    memory_.setEmergencyStop(state, std::move(callback));
  }
  void replaceEmergencyStop(const core::EmergencyStopState& expected,
                            const core::EmergencyStopState& next,
                            EmergencyStopCallback callback) override {
    memory_.replaceEmergencyStop(expected, next, std::move(callback));
  }
  bool up() const override { return true; }

private:
  core::MemoryCounterStore memory_;
};

/**
 * The rules these tests run under: an openai provider at the fake upstream on `upstream_port`,
 * gpt-4o-mini priced, one $100 budget. @return null, with `errors`, if it does not build
 */
inline RuntimePtr chatRuntime(std::uint16_t upstream_port, std::vector<std::string>& errors) {
  const std::string yaml = "providers:\n  openai: { format: openai, base_url: \"http://127.0.0.1:" +
                           std::to_string(upstream_port) +
                           "\", routes: [\"/v1/\"] }\n"
                           "pricing:\n  models:\n    gpt-4o-mini: { input: 0.15, output: 0.6 }\n"
                           "budgets:\n  - { name: all, limit_usd: 100 }\n";
  auto loaded = config::loadConfigString(yaml, "test.yaml");
  if (!loaded.errors.empty()) {
    errors = loaded.errors;
    return nullptr;
  }
  return Runtime::build(std::move(*loaded.config), errors);
}

inline constexpr std::string_view kChatAnswer =
    R"({"id":"chatcmpl-1","object":"chat.completion","created":1741570283,)"
    R"("model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant",)"
    R"("content":"Hello"},"finish_reason":"stop"}],)"
    R"("usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29}})";

/**
 * Reads one request from `socket` (its head and a Content-Length body) and answers it 200 with
 * the JSON `answer`, saying `Connection: close` when `close` (blocking).
 */
inline void answerOneRequest(tcp::socket& socket, std::string_view answer, bool close) {
  std::string in;
  const std::size_t head = net::read_until(socket, net::dynamic_buffer(in), "\r\n\r\n");
  const auto at = in.find("Content-Length: ");
  const std::size_t length = at == std::string::npos ? 0 : std::stoul(in.substr(at + 16));
  if (in.size() < head + length) {
    net::read(socket, net::dynamic_buffer(in), net::transfer_exactly(head + length - in.size()));
  }
  const std::string out = std::string("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n") +
                          (close ? "Connection: close\r\n" : "") +
                          "Content-Length: " + std::to_string(answer.size()) + "\r\n\r\n" +
                          std::string(answer);
  net::write(socket, net::buffer(out));
}

}  // namespace spendgate::proxy::test_support
