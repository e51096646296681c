// A request whose pricing throws while the session settles it (docs/metering.md, "A connection
// that fails inside the proxy"): the session is abandoned, and abandon() prices it again. A real
// worker, a real client and a fake upstream on loopback; the failure comes from a pricer that
// throws.

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <future>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "config/config_loader.hpp"
#include "core/memory/buffer_allowance.hpp"
#include "core/pricing/pricer.hpp"
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

/** The configured pricer, but its first `throws` cost() calls throw. */
class ThrowingPricer : public core::Pricer {
public:
  ThrowingPricer(const core::Pricer& base, int throws) : core::Pricer(base), throws_(throws) {}
  core::Cost cost(const core::Usage& usage, std::string_view request_model) const override {
    if (throws_.fetch_sub(1) > 0) throw std::runtime_error("pricing failed");
    return core::Pricer::cost(usage, request_model);
  }

private:
  mutable std::atomic<int> throws_;
};

/** The memory store, recording every settlement it was given. */
class RecordingStore : public test_support::ForwardingMemoryStore {
public:
  std::mutex mutex;
  std::vector<core::Settlement> settlements;

  bool settleAtOnce(const core::Settlement& settlement, core::SettleResult& result) override {
    {
      std::lock_guard lock(mutex);
      settlements.push_back(settlement);
    }
    return ForwardingMemoryStore::settleAtOnce(settlement, result);
  }
};

/** Answers `times` requests on `acceptor` with `answer`, one connection each (blocking). */
void answer(tcp::acceptor& acceptor, std::string_view answer, int times) {
  for (int i = 0; i < times; ++i) {
    tcp::socket socket(acceptor.get_executor());
    acceptor.accept(socket);
    test_support::answerOneRequest(socket, answer, true);
  }
}

/** A worker serving one OpenAI route at `upstream`, its pricer's first `throws` costs failing. */
class PricingFailure {
public:
  PricingFailure(unsigned short upstream_port, int throws)
      : ledger_path_(test_support::perTestTempPath("pricing_failure", ".jsonl")) {
    std::vector<std::string> errors;
    runtime_ = test_support::chatRuntime(upstream_port, errors);
    EXPECT_TRUE(runtime_) << errors.front();
    // The snapshot was made non-const (Runtime::build); nothing reads it yet.
    std::const_pointer_cast<Runtime>(runtime_)->pricer =
        std::make_shared<ThrowingPricer>(*runtime_->pricer, throws);
    std::filesystem::remove(ledger_path_);
    ledger_ = std::make_unique<LedgerWriter>(ledger_path_.string(), test_support::quietLogger());
    enforcer_ = std::make_unique<Enforcer>(store, config::RedisConfig::OnUnavailable::FailClosed,
                                           test_support::quietLogger());
    alerts_ = std::make_unique<AlertDispatcher>(runtime_->config.alerts, runtime_->rules,
                                                test_support::quietLogger());
    worker_ = std::make_unique<Worker>(0, runtime_,
                                       Services{test_support::quietLogger(), *ledger_, *enforcer_,
                                                *alerts_, spend_, buffers_, served_models_});
    proxy_ = worker_->listen(tcp::endpoint(net::ip::make_address("127.0.0.1"), 0), false);
    worker_->startAccepting();
    loop_ = std::thread([this] { runCatching(worker_->context(), [](const std::string&) {}); });
  }
  ~PricingFailure() {
    net::post(worker_->context(), [this] { worker_->beginShutdown(); });
    loop_.join();
    std::filesystem::remove(ledger_path_);
  }

  /** One chat completion on its own connection. @return all the proxy sent until it closed */
  std::string chat() {
    net::io_context context;
    tcp::socket client(context);
    client.connect(proxy_);
    const std::string body =
        R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]})";
    const std::string request =
        "POST /v1/chat/completions HTTP/1.1\r\nHost: proxy\r\nAuthorization: Bearer sk-test\r\n"
        "Connection: close\r\nContent-Type: application/json\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body;
    net::write(client, net::buffer(request));
    std::string answer;
    beast::error_code ec;
    net::read(client, net::dynamic_buffer(answer), ec);
    // Whatever the session did when it ended is done by the time this runs on its thread.
    std::promise<void> looked;
    net::post(worker_->context(), [&] { looked.set_value(); });
    looked.get_future().wait();
    return answer;
  }

  /** The ledger's lines, parsed. */
  std::vector<boost::json::object> lines() {
    ledger_->flush();
    std::vector<boost::json::object> out;
    std::istringstream text(test_support::readWholeFile(ledger_path_));
    for (std::string line; std::getline(text, line);) {
      out.push_back(boost::json::parse(line).as_object());
    }
    return out;
  }

  std::shared_ptr<RecordingStore> store = std::make_shared<RecordingStore>();

private:
  std::filesystem::path ledger_path_;
  RuntimePtr runtime_;
  std::unique_ptr<LedgerWriter> ledger_;
  std::unique_ptr<Enforcer> enforcer_;
  std::unique_ptr<AlertDispatcher> alerts_;
  core::SpendStats spend_;
  core::BufferAllowance buffers_;
  core::ServedModelMemory served_models_;
  std::unique_ptr<Worker> worker_;
  tcp::endpoint proxy_;
  std::thread loop_;
};

std::int64_t tokens(const boost::json::object& line, std::string_view name) {
  return line.at(name).to_number<std::int64_t>();
}

TEST(ClientSessionPricingFailureTest, PricingThatThrowsTwiceStillWritesTheLineAtTheWorstCase) {
  // It was released at $0 and no line written (SPEC §6: a line per request).
  net::io_context upstream_context;
  tcp::acceptor upstream(upstream_context, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  std::thread upstream_thread([&] { answer(upstream, test_support::kChatAnswer, 1); });
  PricingFailure proxy(upstream.local_endpoint().port(), 1000);
  proxy.chat();
  upstream_thread.join();

  const auto lines = proxy.lines();
  ASSERT_EQ(lines.size(), 1u);
  const auto& line = lines.front();
  EXPECT_EQ(line.at("usage_source").as_string(), "estimated");
  EXPECT_EQ(line.at("price_source").as_string(), "worst_case");
  // The usage was read before pricing failed: its tokens stay.
  EXPECT_EQ(tokens(line, "input_tokens"), 19);
  EXPECT_EQ(tokens(line, "output_tokens"), 10);
  // The counters are settled once, at the line's cost: the worst case reserved, not 0.
  std::lock_guard lock(proxy.store->mutex);
  ASSERT_EQ(proxy.store->settlements.size(), 1u);
  const core::Settlement& settled = proxy.store->settlements.front();
  EXPECT_GT(settled.actual_cost, 0);
  EXPECT_NEAR(line.at("cost_usd").to_number<double>(), core::toUsd(settled.actual_cost), 1e-12);
  EXPECT_EQ(settled.actual_tokens, 29);
}

TEST(ClientSessionPricingFailureTest, ARerunAfterPricingThrewReadsTheHeldAnswerOnce) {
  // The re-run fed the held answer to the reader again: an unreadable body's estimate doubled.
  // The same answer priced without a failure is the reference.
  const std::string unreadable(4000, 'x');
  net::io_context upstream_context;
  tcp::acceptor upstream(upstream_context, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  std::thread upstream_thread([&] { answer(upstream, unreadable, 2); });
  PricingFailure proxy(upstream.local_endpoint().port(), 1);
  proxy.chat();  // its first price() throws; abandon() prices it again
  proxy.chat();
  upstream_thread.join();

  const auto lines = proxy.lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].at("usage_source").as_string(), "estimated");
  EXPECT_EQ(lines[1].at("usage_source").as_string(), "estimated");
  EXPECT_GT(tokens(lines[1], "output_tokens"), 0);
  EXPECT_EQ(tokens(lines[0], "output_tokens"), tokens(lines[1], "output_tokens"));
  EXPECT_EQ(lines[0].at("cost_usd"), lines[1].at("cost_usd"));
}

}  // namespace
}  // namespace spendgate::proxy
