// A client session whose request fails inside the proxy (an exception while it is served) still
// settles it: its reservation released and its ledger line written (docs/metering.md, "A
// connection that fails inside the proxy"). A real worker, a real client and a fake upstream on
// loopback; the failure comes from a counter store that throws.

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
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
#include "proxy/alerts/alert_dispatcher.hpp"
#include "proxy/enforcement/enforcer.hpp"
#include "proxy/ledger/ledger_writer.hpp"
#include "proxy/net.hpp"
#include "proxy/server/event_loop.hpp"
#include "proxy/server/worker.hpp"
#include "tests/proxy/server/session_test_support.hpp"
#include "tests/proxy/test_files.hpp"

namespace spendgate::proxy {
namespace {

/** The memory store, but its first settle throws (as a bug or memory running out would). */
class ThrowingSettleStore : public test_support::ForwardingMemoryStore {
public:
  std::atomic<int> settle_calls{0};
  std::atomic<int> settled{0};

  bool settleAtOnce(const core::Settlement& settlement, core::SettleResult& result) override {
    if (++settle_calls == 1) throw std::runtime_error("the store failed");
    ForwardingMemoryStore::settleAtOnce(settlement, result);
    ++settled;
    return true;
  }
};

/** Answers one request on `acceptor` with kChatAnswer (blocking, on its own thread). */
void answerOnce(tcp::acceptor& acceptor) {
  tcp::socket socket(acceptor.get_executor());
  acceptor.accept(socket);
  test_support::answerOneRequest(socket, test_support::kChatAnswer, false);
  std::string in;
  beast::error_code ignored;
  net::read(socket, net::dynamic_buffer(in), ignored);  // until the proxy closes
}

TEST(ClientSessionFailureTest, AStoreThatThrowsOnSettleHasTheReservationSettledAndTheLineWritten) {
  // Review of 0bad715: counters_settled was set before the store was called, so the abandon()
  // that follows an exception there settled nothing: the reservation held until it expired.
  net::io_context upstream_context;
  tcp::acceptor upstream(upstream_context, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  std::thread upstream_thread([&] { answerOnce(upstream); });

  std::vector<std::string> errors;
  const RuntimePtr runtime = test_support::chatRuntime(upstream.local_endpoint().port(), errors);
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
