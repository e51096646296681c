// A relayed (not held) answer whose usage reading throws part-way (an allocation failure inside
// UsageExtractor::finishInto) is priced again by abandon(): its reader is not finished a second
// time, what it saw is estimated, and the request gets exactly one ledger line (review 22 F7,
// SPEC §6). A real worker, a real client and a fake upstream on loopback; the failure is one
// refused allocation of a size only the reader's finish asks for.

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <cstdlib>
#include <future>
#include <memory>
#include <new>
#include <sstream>
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

namespace {

// One allocation of exactly this size, on this thread, is refused (then it is disarmed). The
// tests of this binary use glibc's malloc (only the server binary links tcmalloc).
std::atomic<std::size_t> refused_size{0};
std::atomic<std::thread::id> refused_thread;

}  // namespace

void* operator new(std::size_t size) {
  if (size != 0 && size == refused_size.load(std::memory_order_acquire) &&
      std::this_thread::get_id() == refused_thread.load(std::memory_order_relaxed)) {
    std::size_t expected = size;
    if (refused_size.compare_exchange_strong(expected, 0)) throw std::bad_alloc();
  }
  if (void* block = std::malloc(size == 0 ? 1 : size)) return block;
  throw std::bad_alloc();
}
// GCC sees the malloc inside this operator new only where it is not inlined, and takes the free
// below for a mismatch wherever a `new` it did not see through is paired with it.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* block) noexcept { std::free(block); }
void operator delete(void* block, std::size_t) noexcept { std::free(block); }
#pragma GCC diagnostic pop

namespace spendgate::proxy {
namespace {

// The answer's model: a name long enough that its copy is an allocation of a size nothing else
// on the worker asks for once the stream has been read.
const std::string kModel = "gpt-4o-mini-" + std::string(4987, 'q');

std::string chunk(std::string_view data) {
  std::ostringstream out;
  out << std::hex << data.size() << "\r\n" << data << "\r\n";
  return out.str();
}

TEST(ClientSessionUsageFailureTest,
     AReaderThatThrewWhileFinishingARelayedStreamIsNotFinishedAgain) {
  net::io_context upstream_context;
  tcp::acceptor upstream(upstream_context, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  std::promise<void> end_stream;
  std::thread upstream_thread([&] {
    tcp::socket socket(upstream.get_executor());
    upstream.accept(socket);
    std::string in;
    const std::size_t head = net::read_until(socket, net::dynamic_buffer(in), "\r\n\r\n");
    const auto at = in.find("Content-Length: ");
    const std::size_t length = std::stoul(in.substr(at + 16));
    if (in.size() < head + length) {
      net::read(socket, net::dynamic_buffer(in), net::transfer_exactly(head + length - in.size()));
    }
    const std::string events =
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"" + kModel +
        "\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"}}]}\n\n"
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"" +
        kModel +
        "\",\"choices\":[],\"usage\":{\"prompt_tokens\":19,\"completion_tokens\":10,"
        "\"total_tokens\":29}}\n\ndata: [DONE]\n\n";
    const std::string out =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
        "Connection: close\r\n\r\n" +
        chunk(events);
    net::write(socket, net::buffer(out));
    end_stream.get_future().wait();  // the body's end comes once the test has armed the failure
    net::write(socket, net::buffer(std::string("0\r\n\r\n")));
  });

  std::vector<std::string> errors;
  const RuntimePtr runtime = test_support::chatRuntime(upstream.local_endpoint().port(), errors);
  ASSERT_TRUE(runtime) << errors.front();
  Logger& logger = test_support::quietLogger();
  const auto ledger_path = test_support::perTestTempPath("usage_failure", ".jsonl");
  std::filesystem::remove(ledger_path);
  LedgerWriter ledger(ledger_path.string(), logger);
  auto store = std::make_shared<test_support::ForwardingMemoryStore>();
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
  // Whatever the worker had to do with what it was given so far is done once this returns.
  const auto caughtUp = [&worker] {
    std::promise<std::thread::id> looked;
    net::post(worker.context(), [&] { looked.set_value(std::this_thread::get_id()); });
    return looked.get_future().get();
  };

  net::io_context client_context;
  tcp::socket client(client_context);
  client.connect(proxy);
  const std::string body =
      R"({"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},)"
      R"("messages":[{"role":"user","content":"hi"}]})";
  const std::string request =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: proxy\r\nAuthorization: Bearer sk-test\r\n"
      "Connection: close\r\nContent-Type: application/json\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  net::write(client, net::buffer(request));
  std::string answer;
  net::read_until(client, net::dynamic_buffer(answer), "[DONE]");
  // Relayed, then read for its usage: the events are read once the worker has caught up. The
  // next allocation of the model's size there is the finish's copy of the model name.
  refused_thread.store(caughtUp(), std::memory_order_relaxed);
  caughtUp();
  refused_size.store(kModel.size() + 1, std::memory_order_release);
  end_stream.set_value();
  beast::error_code ec;
  net::read(client, net::dynamic_buffer(answer), ec);  // until the proxy closes
  upstream_thread.join();
  caughtUp();
  EXPECT_EQ(refused_size.exchange(0), 0u) << "the finish never asked for the refused size";

  ledger.flush();
  std::istringstream text(test_support::readWholeFile(ledger_path));
  std::vector<boost::json::object> lines;
  for (std::string line; std::getline(text, line);) {
    lines.push_back(boost::json::parse(line).as_object());
  }
  ASSERT_EQ(lines.size(), 1u) << "SPEC §6: one line per request";
  const auto& line = lines.front();
  // Not read again from the half-finished reader (which answered "provider", as if nothing had
  // failed): what it saw, estimated, the provider's counts so far a floor.
  EXPECT_EQ(line.at("usage_source").as_string(), "estimated");
  EXPECT_EQ(line.at("input_tokens").to_number<std::int64_t>(), 19);
  EXPECT_GE(line.at("output_tokens").to_number<std::int64_t>(), 10);
  EXPECT_EQ(worker.activeRequests(), 0u);

  net::post(worker.context(), [&] { worker.beginShutdown(); });
  loop.join();
  std::filesystem::remove(ledger_path);
}

}  // namespace
}  // namespace spendgate::proxy
