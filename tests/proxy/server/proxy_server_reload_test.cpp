// A reload (POST /admin/reload) hands the new rules to every worker and is answered once they all
// have them, without holding the main loop (worker 0's: the admin API, the signals, its own
// connections) while a busy worker gets there (review 22 F4). A real ProxyServer on loopback with
// two workers, the second held busy by the test.

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "core/ledger/ledger_entry.hpp"
#include "core/memory/buffer_allowance.hpp"
#include "core/pricing/served_model_memory.hpp"
#include "core/stats/spend_stats.hpp"
#include "core/store/memory_counter_store.hpp"
#include "proxy/alerts/alert_dispatcher.hpp"
#include "proxy/enforcement/enforcer.hpp"
#include "proxy/ledger/ledger_writer.hpp"
#include "proxy/net.hpp"
#include "proxy/server/proxy_server.hpp"
#include "tests/proxy/test_files.hpp"

namespace spendgate::proxy {
namespace {

std::string configText(const std::filesystem::path& ledger, std::string_view budget) {
  return "server: { listen: \"127.0.0.1:0\", threads: 2, shutdown_grace: 0s }\n"
         "admin: { listen: \"127.0.0.1:0\" }\n"
         "logging: { level: \"off\" }\n"
         "ledger: { path: \"" +
         ledger.string() + "\" }\nbudgets:\n  - { name: " + std::string(budget) +
         ", limit_usd: 100 }\n";
}

void writeFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

/** Sends one admin request on a new connection (Connection: close). @return the open socket */
std::unique_ptr<tcp::socket> send(net::io_context& context,
                                  const tcp::endpoint& admin,
                                  std::string_view method,
                                  std::string_view target) {
  auto socket = std::make_unique<tcp::socket>(context);
  socket->connect(admin);
  const std::string request = std::string(method) + " " + std::string(target) +
                              " HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n"
                              "Content-Length: 0\r\n\r\n";
  net::write(*socket, net::buffer(request));
  return socket;
}

/** @return all `socket` receives until the server closes it */
std::string readAll(tcp::socket& socket) {
  std::string answer;
  beast::error_code ec;
  net::read(socket, net::dynamic_buffer(answer), ec);
  return answer;
}

/** A ProxyServer on the memory store with the services it needs, bound, not running yet. */
struct ServerUnderTest {
  ServerUnderTest(const RuntimePtr& runtime,
                  const std::filesystem::path& config_path,
                  const std::filesystem::path& ledger_path)
      : ledger(ledger_path.string(), logger),
        enforcer(std::make_shared<core::MemoryCounterStore>(),
                 config::RedisConfig::OnUnavailable::FailClosed,
                 logger),
        alerts(runtime->config.alerts, runtime->rules, logger),
        server(runtime,
               Services{logger, ledger, enforcer, alerts, spend, buffers, served_models},
               config_path.string()) {
    server.bind();
  }

  Logger& logger = test_support::quietLogger();
  LedgerWriter ledger;
  Enforcer enforcer;
  AlertDispatcher alerts;
  core::SpendStats spend;
  core::BufferAllowance buffers;
  core::ServedModelMemory served_models;
  ProxyServer server;
};

/**
 * Holds an event loop busy (a large answer being parsed, say) from its next turn until release().
 */
class BusyLoop {
public:
  explicit BusyLoop(net::io_context& loop) {
    net::post(loop, [state = state_] {
      state->busy.set_value();
      state->released.wait();
    });
  }
  /** Returns once the loop runs the hold (its thread must be running). */
  void waitUntilBusy() { state_->busy.get_future().wait(); }
  ~BusyLoop() { release(); }
  void release() {
    if (!std::exchange(released_, true)) state_->release.set_value();
  }

private:
  struct State {
    std::promise<void> busy;
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
  bool released_ = false;
};

/** Writes a ledger of `lines` copies of one request that cost `cost`, settled a minute ago. */
void writeLedger(const std::filesystem::path& path, core::Picodollars cost, int lines) {
  core::LedgerEntry e;
  e.ts = std::chrono::system_clock::now() - std::chrono::minutes(1);
  e.request_id = "old";
  e.provider = "openai";
  e.model = e.requested_model = "gpt-4o-mini";
  e.key = "fp_x";
  e.status = 200;
  e.cost_picousd = cost;
  e.price_source = "catalog";
  e.usage_source = "provider";
  const std::string line = core::toJsonLine(e);
  std::ofstream out(path, std::ios::trunc);
  for (int i = 0; i < lines; ++i) out << line;
}

/** @return true once the admin API lists the budget `name` (the reload has begun), within ~30 s */
bool reloadBegun(net::io_context& client, const tcp::endpoint& admin, std::string_view name) {
  const std::string quoted = "\"" + std::string(name) + "\"";
  for (int attempt = 0; attempt < 3000; ++attempt) {
    auto budgets = send(client, admin, "GET", "/admin/budgets");
    if (readAll(*budgets).find(quoted) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST(ProxyServerReloadTest, AReloadWaitsForABusyWorkerWithoutHoldingTheMainLoop) {
  const auto config_path = test_support::perTestTempPath("reload", ".yaml");
  const auto ledger_path = test_support::perTestTempPath("reload", ".jsonl");
  std::filesystem::remove(ledger_path);
  writeFile(config_path, configText(ledger_path, "before"));
  std::vector<std::string> errors;
  const RuntimePtr runtime = Runtime::load(config_path.string(), errors);
  ASSERT_TRUE(runtime) << errors.front();

  ServerUnderTest under_test(runtime, config_path, ledger_path);
  ProxyServer& server = under_test.server;
  const tcp::endpoint admin = server.adminEndpoint();

  // Worker 1 is busy until the test lets it go.
  BusyLoop worker1(*server.eventLoops()[1]);
  std::thread running([&] { server.run(); });
  worker1.waitUntilBusy();

  net::io_context client;
  writeFile(config_path, configText(ledger_path, "after"));
  auto reload = send(client, admin, "POST", "/admin/reload");
  // The main loop still answers: the budgets of the new rules show (the reload has begun) while
  // worker 1 has not taken them.
  ASSERT_TRUE(reloadBegun(client, admin, "after")) << "the reload never began";
  // ... and the reload is not answered yet: worker 1 would still admit under the old rules.
  // (Before the fix the main loop waited up to 1 s for worker 1, then answered anyway, and only
  // then served the budgets request.)
  beast::error_code ec;
  EXPECT_EQ(reload->available(ec), 0u) << "answered before every worker had the new rules";

  // A second reload asked for meanwhile waits for the first (reloads run one at a time).
  auto second = send(client, admin, "POST", "/admin/reload");

  worker1.release();
  const std::string answer = readAll(*reload);
  EXPECT_NE(answer.find("HTTP/1.1 200"), std::string::npos) << answer;
  EXPECT_NE(answer.find("\"reloaded\":true"), std::string::npos) << answer;
  const std::string second_answer = readAll(*second);
  EXPECT_NE(second_answer.find("\"reloaded\":true"), std::string::npos) << second_answer;

  std::raise(SIGTERM);
  running.join();
  std::filesystem::remove(config_path);
  std::filesystem::remove(ledger_path);
}

// Review 23 F1: an admin reload queued behind one whose hand-over waits for a busy worker, then
// SIGTERM: the queued one started after a worker loop had ended, was never answered, and its
// connection kept the main loop (and the process) from ending. Both end at shutdown.
TEST(ProxyServerReloadTest, ReloadsWaitingAtShutdownAreAnsweredAndTheServerEnds) {
  const auto config_path = test_support::perTestTempPath("reload-shutdown", ".yaml");
  const auto ledger_path = test_support::perTestTempPath("reload-shutdown", ".jsonl");
  // A ledger of some size: the first reload's seeding takes a while to read it.
  writeLedger(ledger_path, 1000, 300000);
  writeFile(config_path, configText(ledger_path, "before"));
  std::vector<std::string> errors;
  const RuntimePtr runtime = Runtime::load(config_path.string(), errors);
  ASSERT_TRUE(runtime);
  ServerUnderTest under_test(runtime, config_path, ledger_path);
  ProxyServer& server = under_test.server;
  const tcp::endpoint admin = server.adminEndpoint();
  BusyLoop worker1(*server.eventLoops()[1]);
  std::promise<void> ran;
  auto ran_future = ran.get_future();
  std::thread running([&] {
    server.run();
    ran.set_value();
  });
  worker1.waitUntilBusy();
  net::io_context client;
  writeFile(config_path, configText(ledger_path, "after"));
  auto first = send(client, admin, "POST", "/admin/reload");
  ASSERT_TRUE(reloadBegun(client, admin, "after"));
  auto second = send(client, admin, "POST", "/admin/reload");  // queued behind the first
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::raise(SIGTERM);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  worker1.release();
  const std::string first_answer = readAll(*first);
  const std::string second_answer = readAll(*second);
  // The admin listener closes its connections at shutdown: neither is told it succeeded.
  EXPECT_EQ(first_answer.find(" 200 "), std::string::npos) << first_answer;
  EXPECT_EQ(second_answer.find(" 200 "), std::string::npos) << second_answer;
  // Not a timing bound on the code under test: a hang would otherwise hang the whole binary.
  if (ran_future.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    ADD_FAILURE() << "ProxyServer::run() did not return after SIGTERM";
    std::fflush(stdout);
    std::_Exit(3);
  }
  running.join();
  std::filesystem::remove(config_path);
  std::filesystem::remove(ledger_path);
}

// Review 23 F2: the main loop's worker took the new rules at once and seeded the new budgets only
// once every other worker had them: meanwhile it admitted requests on a new hard budget already
// spent past its limit (with threads: 1, one turn of the loop). It now takes them in the same
// turn as the seeding.
TEST(ProxyServerReloadTest, TheMainLoopAdmitsNothingOnANewBudgetBeforeItIsSeeded) {
  const auto config_path = test_support::perTestTempPath("reload-seed", ".yaml");
  const auto ledger_path = test_support::perTestTempPath("reload-seed", ".jsonl");
  // 200 USD spent today, admitted a minute ago (before any reload).
  writeLedger(ledger_path, 200 * core::kPicodollarsPerUsd, 1);
  const auto text = [&](std::string_view budget, int limit, std::string_view route = "/v1/") {
    return "server: { listen: \"127.0.0.1:0\", threads: 2, shutdown_grace: 0s }\n"
           "admin: { listen: \"127.0.0.1:0\" }\nlogging: { level: \"off\" }\n"
           "providers:\n  openai: { format: openai, base_url: \"http://127.0.0.1:9\", routes: [\"" +
           std::string(route) +
           "\"] }\n"
           "pricing:\n  models:\n    gpt-4o-mini: { input: 0.15, output: 0.6 }\n"
           "ledger: { path: \"" +
           ledger_path.string() + "\" }\nbudgets:\n  - { name: " + std::string(budget) +
           ", limit_usd: " + std::to_string(limit) + ", mode: hard }\n";
  };
  writeFile(config_path, text("before", 100000, "/v9/"));  // old rules: no route for /v1/
  std::vector<std::string> errors;
  const RuntimePtr runtime = Runtime::load(config_path.string(), errors);
  ASSERT_TRUE(runtime) << (errors.empty() ? "" : errors.front());
  ServerUnderTest under_test(runtime, config_path, ledger_path);
  ProxyServer& server = under_test.server;
  const tcp::endpoint admin = server.adminEndpoint();
  const tcp::endpoint proxy = server.proxyEndpoint();
  std::thread running([&] { server.run(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // accepting
  BusyLoop worker1(*server.eventLoops()[1]);
  worker1.waitUntilBusy();
  net::io_context client;
  writeFile(config_path, text("after", 100));
  auto reload = send(client, admin, "POST", "/admin/reload");
  ASSERT_TRUE(reloadBegun(client, admin, "after"));
  const std::string body = R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]})";
  const std::string request =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: proxy\r\nAuthorization: Bearer sk-test\r\n"
      "Connection: close\r\nContent-Type: application/json\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  // Connections spread over the two workers (SO_REUSEPORT); those on worker 0 are served now.
  std::vector<std::unique_ptr<tcp::socket>> sockets;
  for (int i = 0; i < 16; ++i) {
    auto s = std::make_unique<tcp::socket>(client);
    s->connect(proxy);
    net::write(*s, net::buffer(request));
    sockets.push_back(std::move(s));
  }
  // Until those on the main loop's worker are answered (a loaded machine may take a while).
  const auto answeredSoFar = [&] {
    int n = 0;
    for (auto& s : sockets) {
      beast::error_code ec;
      if (s->available(ec) > 0) ++n;
    }
    return n;
  };
  for (int attempt = 0; attempt < 300 && answeredSoFar() == 0; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // Forwarded (a 502 from the closed upstream port) means admitted under the new rules; the old
  // rules have no route for /v1/ (404), the seeded budget refuses (429).
  int forwarded = 0;
  int answered = 0;
  for (auto& s : sockets) {
    beast::error_code ec;
    if (s->available(ec) == 0) continue;  // on the held worker 1
    const std::string answer = readAll(*s);
    ++answered;
    if (answer.find(" 502 ") != std::string::npos) ++forwarded;
  }
  EXPECT_GT(answered, 0) << "no connection landed on the main loop's worker";
  EXPECT_EQ(forwarded, 0) << "admitted under the new hard budget before it was seeded";
  worker1.release();
  const std::string answer = readAll(*reload);
  EXPECT_NE(answer.find(" 200 "), std::string::npos) << answer;
  auto after = std::make_unique<tcp::socket>(client);
  after->connect(proxy);
  net::write(*after, net::buffer(request));
  const std::string later = readAll(*after);
  EXPECT_NE(later.find(" 429 "), std::string::npos) << later;
  std::raise(SIGTERM);
  running.join();
  std::filesystem::remove(config_path);
  std::filesystem::remove(ledger_path);
}

}  // namespace
}  // namespace spendgate::proxy
