// A client session whose request fails inside the proxy (an exception while it is served) still
// settles it: its reservation released and its ledger line written (docs/metering.md, "A
// connection that fails inside the proxy"). A real worker, a real client and a fake upstream on
// loopback; the failure comes from a counter store that throws.

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "config/config_loader.hpp"
#include "core/memory/buffer_allowance.hpp"
#include "core/pricing/served_model_memory.hpp"
#include "core/stats/spend_stats.hpp"
#include "core/store/memory_counter_store.hpp"
#include "proxy/alerts/alert_dispatcher.hpp"
#include "proxy/enforcement/enforcer.hpp"
#include "proxy/ledger/ledger_writer.hpp"
#include "proxy/net.hpp"
#include "proxy/server/event_loop.hpp"
#include "proxy/server/worker.hpp"
#include "tests/proxy/test_files.hpp"

namespace spendgate::proxy {
namespace {

/** The memory store, but its first settle throws (as a bug or memory running out would). */
class ThrowingSettleStore : public core::CounterStore {
public:
  std::atomic<int> settle_calls{0};
  std::atomic<int> settled{0};

  void admit(const core::EnforcementPlan& plan,
             const std::string& id,
             std::chrono::system_clock::time_point expires_at,
             AdmitCallback callback) override {
    inner_.admit(plan, id, expires_at, std::move(callback));
  }
  std::optional<core::AdmissionResult> admitAtOnce(
      const core::EnforcementPlan& plan,
      const std::string& id,
      std::chrono::system_clock::time_point expires_at) override {
    return inner_.admitAtOnce(plan, id, expires_at);
  }
  void settle(const core::Settlement& settlement, SettleCallback callback) override {
    core::SettleResult result;
    settleAtOnce(settlement, result);
    callback(core::StoreResult<core::SettleResult>::success(std::move(result)));
  }
  bool settleAtOnce(const core::Settlement& settlement, core::SettleResult& result) override {
    if (++settle_calls == 1) throw std::runtime_error("the store failed");
    inner_.settleAtOnce(settlement, result);
    ++settled;
    return true;
  }
  void budgets(std::chrono::system_clock::time_point now, BudgetsCallback callback) override {
    inner_.budgets(now, std::move(callback));
  }
  void spend(const std::string& key, SpendCallback callback) override {
    inner_.spend(key, std::move(callback));
  }
  void emergencyStop(EmergencyStopCallback callback) override {
    inner_.emergencyStop(std::move(callback));
  }
  void setEmergencyStop(const core::EmergencyStopState& state,
                        EmergencyStopCallback callback) override {
    inner_.setEmergencyStop(state, std::move(callback));
  }
  void replaceEmergencyStop(const core::EmergencyStopState& expected,
                            const core::EmergencyStopState& next,
                            EmergencyStopCallback callback) override {
    inner_.replaceEmergencyStop(expected, next, std::move(callback));
  }
  bool up() const override { return true; }

private:
  core::MemoryCounterStore inner_;
};

constexpr std::string_view kAnswer =
    R"({"id":"chatcmpl-1","object":"chat.completion","created":1741570283,)"
    R"("model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant",)"
    R"("content":"Hello"},"finish_reason":"stop"}],)"
    R"("usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29}})";

/** Answers one request on `acceptor` with kAnswer (blocking, on its own thread). */
void answerOnce(tcp::acceptor& acceptor) {
  tcp::socket socket(acceptor.get_executor());
  acceptor.accept(socket);
  std::string in;
  const std::size_t head = net::read_until(socket, net::dynamic_buffer(in), "\r\n\r\n");
  const auto at = in.find("Content-Length: ");
  const std::size_t length = at == std::string::npos ? 0 : std::stoul(in.substr(at + 16));
  if (in.size() < head + length) {
    net::read(socket, net::dynamic_buffer(in), net::transfer_exactly(head + length - in.size()));
  }
  const std::string out = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                          std::to_string(kAnswer.size()) + "\r\n\r\n" + std::string(kAnswer);
  net::write(socket, net::buffer(out));
  beast::error_code ignored;
  net::read(socket, net::dynamic_buffer(in), ignored);  // until the proxy closes
}

TEST(ClientSessionFailureTest, AStoreThatThrowsOnSettleHasTheReservationSettledAndTheLineWritten) {
  // Review of 0bad715: counters_settled was set before the store was called, so the abandon()
  // that follows an exception there settled nothing: the reservation held until it expired.
  net::io_context upstream_context;
  tcp::acceptor upstream(upstream_context, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  std::thread upstream_thread([&] { answerOnce(upstream); });

  const std::string yaml = "providers:\n  openai: { format: openai, base_url: \"http://127.0.0.1:" +
                           std::to_string(upstream.local_endpoint().port()) +
                           "\", routes: [\"/v1/\"] }\n"
                           "pricing:\n  models:\n    gpt-4o-mini: { input: 0.15, output: 0.6 }\n"
                           "budgets:\n  - { name: all, limit_usd: 100 }\n";
  auto loaded = config::loadConfigString(yaml, "test.yaml");
  ASSERT_TRUE(loaded.errors.empty()) << loaded.errors.front();
  std::vector<std::string> errors;
  const RuntimePtr runtime = Runtime::build(std::move(*loaded.config), errors);
  ASSERT_TRUE(runtime) << errors.front();

  Logger& logger = test_support::quietLogger();
  const auto ledger_path = test_support::perTestTempPath("session_failure", ".jsonl");
  std::filesystem::remove(ledger_path);
  LedgerWriter ledger(ledger_path.string(), logger);
  auto store = std::make_shared<ThrowingSettleStore>();
  Enforcer enforcer(store, config::RedisConfig::OnUnavailable::FailClosed, logger);
  AlertDispatcher alerts(runtime->config.alerts, runtime->rules, logger);
  core::SpendStats spend;
  core::BufferAllowance buffers;
  core::ServedModelMemory served_models;
  Worker worker(0, runtime,
                Services{logger, ledger, enforcer, alerts, spend, buffers, served_models});
  const tcp::endpoint proxy =
      worker.listen(tcp::endpoint(net::ip::make_address("127.0.0.1"), 0), false);
  worker.startAccepting();
  std::thread loop([&] { runCatching(worker.context(), [](const std::string&) {}); });

  // The client: one chat completion, then whatever comes until the proxy closes.
  net::io_context client_context;
  tcp::socket client(client_context);
  client.connect(proxy);
  const std::string body = R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]})";
  const std::string request =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: proxy\r\nAuthorization: Bearer sk-test\r\n"
      "Content-Type: application/json\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  net::write(client, net::buffer(request));
  std::string answer;
  beast::error_code ec;
  net::read(client, net::dynamic_buffer(answer), ec);  // the proxy closes: the session failed
  upstream_thread.join();

  // Whatever the session did when it failed is done by the time this runs on its thread.
  std::promise<void> looked;
  net::post(worker.context(), [&] { looked.set_value(); });
  looked.get_future().wait();
  EXPECT_EQ(store->settle_calls.load(), 2);
  EXPECT_EQ(store->settled.load(), 1) << "the reservation was never settled";
  ledger.flush();
  const std::string lines = test_support::readWholeFile(ledger_path);
  EXPECT_EQ(std::count(lines.begin(), lines.end(), '\n'), 1) << lines;
  EXPECT_EQ(worker.activeRequests(), 0u);

  net::post(worker.context(), [&] { worker.beginShutdown(); });
  loop.join();
  std::filesystem::remove(ledger_path);
}

}  // namespace
}  // namespace spendgate::proxy
