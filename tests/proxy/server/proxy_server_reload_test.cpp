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

TEST(ProxyServerReloadTest, AReloadWaitsForABusyWorkerWithoutHoldingTheMainLoop) {
  const auto config_path = test_support::perTestTempPath("reload", ".yaml");
  const auto ledger_path = test_support::perTestTempPath("reload", ".jsonl");
  std::filesystem::remove(ledger_path);
  writeFile(config_path, configText(ledger_path, "before"));
  std::vector<std::string> errors;
  const RuntimePtr runtime = Runtime::load(config_path.string(), errors);
  ASSERT_TRUE(runtime) << errors.front();

  Logger& logger = test_support::quietLogger();
  LedgerWriter ledger(ledger_path.string(), logger);
  Enforcer enforcer(std::make_shared<core::MemoryCounterStore>(),
                    config::RedisConfig::OnUnavailable::FailClosed, logger);
  AlertDispatcher alerts(runtime->config.alerts, runtime->rules, logger);
  core::SpendStats spend;
  core::BufferAllowance buffers;
  core::ServedModelMemory served_models;
  ProxyServer server(runtime,
                     Services{logger, ledger, enforcer, alerts, spend, buffers, served_models},
                     config_path.string());
  server.bind();
  const tcp::endpoint admin = server.adminEndpoint();

  // Worker 1 is busy (a large answer being parsed, say) until the test lets it go.
  std::promise<void> busy;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  net::post(*server.eventLoops()[1], [&busy, released] {
    busy.set_value();
    released.wait();
  });
  std::thread running([&] { server.run(); });
  busy.get_future().wait();

  net::io_context client;
  writeFile(config_path, configText(ledger_path, "after"));
  auto reload = send(client, admin, "POST", "/admin/reload");
  // The main loop still answers: the budgets of the new rules show (the reload has begun) while
  // worker 1 has not taken them.
  bool begun = false;
  for (int attempt = 0; attempt < 3000 && !begun; ++attempt) {
    auto budgets = send(client, admin, "GET", "/admin/budgets");
    begun = readAll(*budgets).find("\"after\"") != std::string::npos;
    if (!begun) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(begun) << "the reload never began";
  // ... and the reload is not answered yet: worker 1 would still admit under the old rules.
  // (Before the fix the main loop waited up to 1 s for worker 1, then answered anyway, and only
  // then served the budgets request.)
  beast::error_code ec;
  EXPECT_EQ(reload->available(ec), 0u) << "answered before every worker had the new rules";

  // A second reload asked for meanwhile waits for the first (reloads run one at a time).
  auto second = send(client, admin, "POST", "/admin/reload");

  release.set_value();
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

}  // namespace
}  // namespace spendgate::proxy
