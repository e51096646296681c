#include "proxy/alerts/alert_dispatcher.hpp"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cstdlib>
#include <memory>
#include <thread>

#include "core/enforcement/period.hpp"
#include "proxy/alerts/alert_messages.hpp"
#include "proxy/logging/logger.hpp"
#include "tests/proxy/alerts/alert_test_servers.hpp"
#include "tests/proxy/test_files.hpp"

namespace spendgate::proxy {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;
using SinkType = config::AlertSinkConfig::Type;
using Clock = std::chrono::steady_clock;

core::Picodollars usd(double amount) {
  return static_cast<core::Picodollars>(amount * static_cast<double>(core::kPicodollarsPerUsd) +
                                        0.5);
}

Logger& logger() { return test_support::quietLogger(); }

config::AlertSinkConfig webhook(const std::string& url,
                                config::AlertLevel min = config::AlertLevel::Info) {
  config::AlertSinkConfig s;
  s.type = SinkType::Webhook;
  s.url = url;
  s.min_level = min;
  return s;
}

config::AlertSinkConfig slack(const std::string& url,
                              config::AlertLevel min = config::AlertLevel::Info) {
  auto s = webhook(url, min);
  s.type = SinkType::Slack;
  return s;
}

config::AlertSinkConfig email(const std::string& smtp_url,
                              config::AlertLevel min = config::AlertLevel::Info) {
  config::AlertSinkConfig s;
  s.type = SinkType::Email;
  s.smtp_url = smtp_url;
  s.from = "spendgate@example.com";
  s.to = {"ops@example.com", "finance@example.com"};
  s.min_level = min;
  return s;
}

config::AlertsConfig alertsConfig(std::vector<config::AlertSinkConfig> sinks) {
  config::AlertsConfig c;
  c.sinks = std::move(sinks);
  return c;
}

// A `total` budget: thresholds only (no projection), and spend-rate needs an hour of history.
core::Rules totalBudget(double limit = 100) {
  core::BudgetRule r;
  r.name = "org-total";
  r.period = core::Period::Total;
  r.limit = usd(limit);
  r.alert_at = {0.5, 0.8, 0.95, 1.0};
  core::Rules rules;
  rules.budgets.push_back(r);
  return rules;
}

std::vector<core::BudgetSnapshot> settled(double spent, double limit = 100) {
  core::BudgetSnapshot s;
  s.name = "org-total";
  s.period = core::Period::Total;
  s.window = core::periodWindow(core::Period::Total, std::chrono::system_clock::now());
  s.limit = usd(limit);
  s.spent = usd(spent);
  return {s};
}

/** Fast retries for tests. */
AlertDispatchOptions fast(std::chrono::milliseconds timeout = 500ms) {
  AlertDispatchOptions o;
  o.attempt_timeout = timeout;
  o.first_backoff = 100ms;
  return o;
}

core::Alert alert(std::string id, core::AlertLevel level = core::AlertLevel::Warning) {
  core::Alert a;
  a.id = std::move(id);
  a.level = level;
  a.title = "Budget b reached 80% of its day limit";
  a.message = "Budget b: $80.00 spent of $100.00 (80%).";
  a.budget = "b";
  a.created_at = std::chrono::system_clock::now();
  a.details["spent_usd"] = 80.0;
  return a;
}

std::vector<std::string> ids(const std::vector<testing::HttpReceiver::Request>& requests) {
  std::vector<std::string> out;
  for (const auto& r : requests) {
    out.push_back(std::string(boost::json::parse(r.body).as_object().at("id").as_string()));
  }
  return out;
}

const AlertRecord* find(const std::vector<AlertRecord>& records, const std::string& id) {
  for (const auto& r : records) {
    if (r.alert.id == id) return &r;
  }
  return nullptr;
}

const std::string kId50 = "budget:org-total::0:threshold:0.5";
const std::string kId80 = "budget:org-total::0:threshold:0.8";
const std::string kId95 = "budget:org-total::0:threshold:0.95";
const std::string kId100 = "budget:org-total::0:threshold:1";

TEST(AlertDispatcher, EachThresholdArrivesOnceAtEachSinkThatAcceptsItsLevel) {
  testing::HttpReceiver hook;
  testing::HttpReceiver slack_server;
  testing::SmtpReceiver smtp;
  AlertDispatcher dispatcher(
      alertsConfig({webhook(hook.url()),
                    slack(slack_server.url("/services/T/B/X"), config::AlertLevel::Warning),
                    email(smtp.url(), config::AlertLevel::Critical)}),
      totalBudget(), logger(), {}, fast());

  const auto now = std::chrono::system_clock::now();
  for (double spent : {10.0, 50.0, 55.0, 80.0, 90.0, 96.0, 100.0, 120.0}) {
    dispatcher.onSettled(settled(spent), now);
  }
  // Repeats change nothing.
  dispatcher.onSettled(settled(120), now);
  ASSERT_TRUE(dispatcher.waitIdle(10s));

  // Up to 4 deliveries per sink run at once, so alerts made together may arrive in any order.
  EXPECT_THAT(ids(hook.requests()), UnorderedElementsAre(kId50, kId80, kId95, kId100));
  EXPECT_EQ(slack_server.requests().size(), 3u);  // warning and above
  auto mails = smtp.mails();
  ASSERT_EQ(mails.size(), 2u);  // critical and above
  std::sort(mails.begin(), mails.end(), [](const auto& x, const auto& y) {
    return x.data.find("CRITICAL") != std::string::npos &&
           y.data.find("CRITICAL") == std::string::npos;
  });
  EXPECT_THAT(
      mails[0].data,
      HasSubstr("Subject: [spendgate CRITICAL] Budget org-total reached 95% of its total limit"));
  EXPECT_THAT(mails[1].data,
              HasSubstr("Subject: [spendgate EXCEEDED] Budget org-total reached its total limit"));
  EXPECT_EQ(mails[0].from, "spendgate@example.com");
  EXPECT_THAT(mails[0].to, ElementsAre("ops@example.com", "finance@example.com"));
  EXPECT_THAT(mails[0].data, HasSubstr("X-Spendgate-Alert-Id: " + kId95 + "\r\n"));
  EXPECT_THAT(mails[0].data, HasSubstr("From: spendgate@example.com\r\n"));
  EXPECT_THAT(mails[0].data, HasSubstr("To: ops@example.com, finance@example.com\r\n"));
  EXPECT_THAT(mails[0].data, HasSubstr("$96.00 spent of $100.00 (96%) in total"));

  // Webhook: the alert as JSON.
  testing::HttpReceiver::Request first;
  for (const auto& r : hook.requests()) {
    if (r.alert_id == kId50) first = r;
  }
  EXPECT_EQ(first.target, "/hook");
  EXPECT_EQ(first.content_type, "application/json");
  auto body = boost::json::parse(first.body).as_object();
  EXPECT_EQ(body.at("id").as_string(), kId50);
  EXPECT_EQ(body.at("level").as_string(), "info");
  EXPECT_EQ(body.at("kind").as_string(), "budget_threshold");
  EXPECT_EQ(body.at("source").as_string(), "spendgate");
  EXPECT_EQ(body.at("budget").as_string(), "org-total");
  EXPECT_EQ(body.at("details").as_object().at("threshold").as_double(), 0.5);

  // GET /admin/alerts: newest first, with delivery state per sink.
  auto recent = dispatcher.recentJson();
  ASSERT_EQ(recent.size(), 4u);
  EXPECT_EQ(recent[0].as_object().at("id").as_string(), kId100);
  EXPECT_EQ(recent[3].as_object().at("id").as_string(), kId50);
  const auto& newest = recent[0].as_object();
  EXPECT_EQ(newest.at("status").as_string(), "sent");
  const auto& deliveries = newest.at("deliveries").as_array();
  ASSERT_EQ(deliveries.size(), 3u);
  EXPECT_EQ(deliveries[0].as_object().at("type").as_string(), "webhook");
  EXPECT_EQ(deliveries[1].as_object().at("type").as_string(), "slack");
  EXPECT_EQ(deliveries[2].as_object().at("type").as_string(), "email");
  for (const auto& d : deliveries) {
    EXPECT_EQ(d.as_object().at("status").as_string(), "sent");
    EXPECT_EQ(d.as_object().at("attempts").as_int64(), 1);
    EXPECT_TRUE(d.as_object().at("sent_at").is_string());
  }
  EXPECT_EQ(recent[3].as_object().at("deliveries").as_array().size(), 1u);  // info: webhook only
}

TEST(AlertDispatcher, SlackGetsATextPayloadFromUrlEnv) {
  testing::HttpReceiver slack_server;
  ::setenv("SPENDGATE_TEST_SLACK_URL", slack_server.url("/services/T0/B0/secret").c_str(), 1);
  config::AlertSinkConfig sink;
  sink.type = SinkType::Slack;
  sink.url_env = "SPENDGATE_TEST_SLACK_URL";
  AlertDispatcher dispatcher(alertsConfig({sink}), {}, logger(), {}, fast());
  auto a = alert("x:1", core::AlertLevel::Critical);
  a.title = "Budget <b> & co reached 95%";
  dispatcher.submit({a});
  ASSERT_TRUE(dispatcher.waitIdle(5s));
  ::unsetenv("SPENDGATE_TEST_SLACK_URL");

  const auto requests = slack_server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].target, "/services/T0/B0/secret");
  EXPECT_EQ(requests[0].content_type, "application/json");
  const auto body = boost::json::parse(requests[0].body).as_object();
  ASSERT_EQ(body.size(), 1u);
  EXPECT_EQ(body.at("text").as_string(),
            ":rotating_light: *[CRITICAL] Budget &lt;b&gt; &amp; co reached 95%*\n"
            "Budget b: $80.00 spent of $100.00 (80%).");
  // The URL is a secret: /admin/alerts names the sink by index and type only.
  const auto json = boost::json::serialize(dispatcher.recentJson());
  EXPECT_THAT(json, ::testing::Not(HasSubstr("secret")));
}

TEST(AlertDispatcher, UnsetUrlEnvFailsThatSinkOnly) {
  testing::HttpReceiver hook;
  config::AlertSinkConfig sink;
  sink.type = SinkType::Slack;
  sink.url_env = "SPENDGATE_TEST_UNSET_URL";
  ::unsetenv("SPENDGATE_TEST_UNSET_URL");
  AlertDispatcher dispatcher(alertsConfig({sink, webhook(hook.url())}), {}, logger(), {}, fast());
  dispatcher.submit({alert("x:2")});
  ASSERT_TRUE(dispatcher.waitIdle(5s));
  EXPECT_EQ(hook.requests().size(), 1u);
  const auto records = dispatcher.recent();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].status, "partial");
  EXPECT_EQ(records[0].deliveries[0].status, "failed");
  EXPECT_THAT(records[0].deliveries[0].error, HasSubstr("SPENDGATE_TEST_UNSET_URL is not set"));
}

TEST(AlertDispatcher, ADownSinkIsRetriedWithBackoffThenGivenUp) {
  const auto url = "http://127.0.0.1:" + std::to_string(testing::closedPort()) + "/hook";
  AlertDispatcher dispatcher(alertsConfig({webhook(url)}), {}, logger(), {}, fast());
  const auto start = Clock::now();
  dispatcher.submit({alert("down:1")});
  ASSERT_TRUE(dispatcher.waitIdle(10s));
  const auto took = Clock::now() - start;
  // Three attempts with 100 ms, then 200 ms between them.
  EXPECT_GE(took, 300ms);
  const auto records = dispatcher.recent();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].status, "failed");
  ASSERT_EQ(records[0].deliveries.size(), 1u);
  EXPECT_EQ(records[0].deliveries[0].status, "failed");
  EXPECT_EQ(records[0].deliveries[0].attempts, 3);
  EXPECT_THAT(records[0].deliveries[0].error,
              HasSubstr("onnect"));  // "Couldn't connect", "Connection refused"
}

TEST(AlertDispatcher, AHangingSinkBlocksNeitherTheCallerNorTheOtherSinks) {
  testing::HttpReceiver stuck(/*hang=*/true);
  testing::HttpReceiver good;
  testing::SmtpReceiver smtp;
  AlertDispatcher dispatcher(
      alertsConfig({webhook(stuck.url()), webhook(good.url()), email(smtp.url())}), totalBudget(),
      logger(), {}, fast(300ms));

  // The first alert goes out; once the stuck sink holds its connection, time the callers.
  const auto now = std::chrono::system_clock::now();
  dispatcher.onSettled(settled(50), now);
  ASSERT_TRUE(stuck.waitForRequests(1, 5s));
  std::vector<Clock::duration> calls;
  for (double spent : {60.0, 80.0, 85.0, 96.0, 97.0, 100.0, 101.0, 102.0, 103.0}) {
    const auto t0 = Clock::now();
    dispatcher.onSettled(settled(spent), now);
    calls.push_back(Clock::now() - t0);
  }
  std::sort(calls.begin(), calls.end());
  // Blocking on the stuck sink would take its 300 ms attempt timeout; the margins leave room for
  // a loaded machine without hiding that.
  EXPECT_LT(calls[calls.size() / 2], 50ms) << "median onSettled while a sink hangs";
  EXPECT_LT(calls.back(), 250ms) << "slowest onSettled (an attempt's timeout is 300 ms)";

  // The healthy sinks got all four thresholds well before the stuck one timed out even once.
  EXPECT_TRUE(good.waitForRequests(4, 5s));
  EXPECT_TRUE(smtp.waitForMails(4, 5s));
  EXPECT_THAT(ids(good.requests()), UnorderedElementsAre(kId50, kId80, kId95, kId100));

  // The stuck sink: 3 attempts per alert (each a 300 ms timeout), then given up.
  ASSERT_TRUE(dispatcher.waitIdle(15s));
  for (const auto& record : dispatcher.recent()) {
    EXPECT_EQ(record.status, "partial") << record.alert.id;
    ASSERT_EQ(record.deliveries.size(), 3u);
    EXPECT_EQ(record.deliveries[0].status, "failed");
    EXPECT_EQ(record.deliveries[0].attempts, 3);
    EXPECT_THAT(record.deliveries[0].error, HasSubstr("timed out"));
    EXPECT_EQ(record.deliveries[1].status, "sent");
    EXPECT_EQ(record.deliveries[2].status, "sent");
  }
  EXPECT_EQ(stuck.requests().size(), 12u);  // 4 alerts x 3 attempts
}

TEST(AlertDispatcher, StopDoesNotWaitForAMailServerThatHung) {
  // A listening socket nobody accepts from or reads: the kernel completes the connection, and the
  // "mail server" never sends its greeting nor reads a byte. Ending that transfer made libcurl
  // send a QUIT it waited on for the rest of the attempt's timeout, so stopping the dispatcher
  // (and spendgate's exit after SIGTERM) took seconds.
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(listener, 8), 0);
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const std::string url = "smtp://127.0.0.1:" + std::to_string(ntohs(address.sin_port));

  auto dispatcher =
      std::make_unique<AlertDispatcher>(alertsConfig({email(url)}), totalBudget(), logger(),
                                        AlertDispatcher::ClaimFunction{}, fast(5s));
  dispatcher->onSettled(settled(50), std::chrono::system_clock::now());
  std::this_thread::sleep_for(1s);  // connected; curl waits for the greeting
  const auto t0 = Clock::now();
  dispatcher->stop();
  const auto records = dispatcher->recent();
  dispatcher.reset();
  EXPECT_LT(Clock::now() - t0, 1s) << "stopping waited on the hung mail server";
  ::close(listener);
  ASSERT_EQ(records.size(), 1u);
  ASSERT_EQ(records[0].deliveries.size(), 1u);
  EXPECT_EQ(records[0].deliveries[0].attempts, 1);
  EXPECT_EQ(records[0].deliveries[0].status, "dropped");
}

TEST(AlertDispatcher, ServerErrorsAreRetriedClientErrorsAreNot) {
  testing::HttpReceiver hook;
  AlertDispatcher dispatcher(alertsConfig({webhook(hook.url())}), {}, logger(), {}, fast());
  hook.failNext(2, 503);
  dispatcher.submit({alert("retry:1")});
  ASSERT_TRUE(dispatcher.waitIdle(5s));
  auto records = dispatcher.recent();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].status, "sent");
  EXPECT_EQ(records[0].deliveries[0].attempts, 3);
  EXPECT_EQ(hook.requests().size(), 3u);

  hook.failNext(1, 404);
  dispatcher.submit({alert("retry:2")});
  ASSERT_TRUE(dispatcher.waitIdle(5s));
  records = dispatcher.recent();
  EXPECT_EQ(records[0].alert.id, "retry:2");
  EXPECT_EQ(records[0].status, "failed");
  EXPECT_EQ(records[0].deliveries[0].attempts, 1);
  EXPECT_THAT(records[0].deliveries[0].error, HasSubstr("HTTP 404"));
  EXPECT_EQ(hook.requests().size(), 4u);
}

TEST(AlertDispatcher, TwoInstancesSharingAClaimSendEachAlertOnce) {
  testing::HttpReceiver hook;
  testing::SmtpReceiver smtp;
  auto shared = AlertDispatcher::memoryClaim();  // stands in for Redis SET NX
  const auto config = alertsConfig({webhook(hook.url()), email(smtp.url())});
  AlertDispatcher a(config, totalBudget(), logger(), shared, fast());
  AlertDispatcher b(config, totalBudget(), logger(), shared, fast());

  // Both see the same counters (a shared store) and both decide to alert.
  const auto now = std::chrono::system_clock::now();
  for (double spent : {40.0, 60.0, 85.0}) {
    a.onSettled(settled(spent), now);
    b.onSettled(settled(spent + 1), now);
  }
  ASSERT_TRUE(a.waitIdle(5s));
  ASSERT_TRUE(b.waitIdle(5s));
  EXPECT_THAT(ids(hook.requests()), UnorderedElementsAre(kId50, kId80));
  EXPECT_EQ(smtp.mails().size(), 2u);
  const auto recent_a = a.recent();
  const auto recent_b = b.recent();
  for (const auto& id : {kId50, kId80}) {
    const auto* ra = find(recent_a, id);
    const auto* rb = find(recent_b, id);
    ASSERT_TRUE(ra && rb);
    EXPECT_EQ((ra->status == "sent") + (rb->status == "sent"), 1) << id;
  }
  int sent = 0, duplicate = 0;
  for (const auto* d : {&a, &b}) {
    for (const auto& r : d->recent()) {
      sent += r.status == "sent";
      duplicate += r.status == "duplicate";
    }
  }
  EXPECT_EQ(sent, 2);
  EXPECT_EQ(duplicate, 2);
}

TEST(AlertDispatcher, AClaimAnsweredLaterFromAnotherThreadWorks) {
  testing::HttpReceiver hook;
  std::vector<std::thread> threads;
  std::mutex mutex;
  AlertDispatcher::ClaimFunction later = [&](const std::string& id,
                                             AlertDispatcher::ClaimCallback done) {
    std::lock_guard lock(mutex);
    threads.emplace_back([id, done = std::move(done)] {
      std::this_thread::sleep_for(50ms);
      done(id != "lost");
    });
  };
  {
    AlertDispatcher dispatcher(alertsConfig({webhook(hook.url())}), {}, logger(), later, fast());
    dispatcher.submit({alert("won"), alert("lost")});
    ASSERT_TRUE(dispatcher.waitIdle(5s));
    EXPECT_THAT(ids(hook.requests()), ElementsAre("won"));
    const auto records = dispatcher.recent();
    EXPECT_EQ(find(records, "lost")->status, "duplicate");
  }
  std::lock_guard lock(mutex);
  for (auto& t : threads) t.join();
}

TEST(AlertDispatcher, AFullQueueDropsTheOldestAndSaysSo) {
  testing::HttpReceiver stuck(/*hang=*/true);
  AlertDispatchOptions options = fast(2000ms);
  options.queue_capacity = 2;
  options.max_in_flight_per_sink = 1;
  AlertDispatcher dispatcher(alertsConfig({webhook(stuck.url())}), {}, logger(), {}, options);
  for (int i = 1; i <= 5; ++i) dispatcher.submit({alert("q:" + std::to_string(i))});
  ASSERT_TRUE(stuck.waitForRequests(1, 5s));
  std::this_thread::sleep_for(100ms);
  const auto records = dispatcher.recent();
  ASSERT_EQ(records.size(), 5u);
  EXPECT_EQ(records[0].alert.id, "q:5");
  int dropped = 0;
  for (const auto& r : records) dropped += r.status == "dropped";
  EXPECT_GE(dropped, 2);
  EXPECT_NE(find(records, "q:5")->status, "dropped");
  EXPECT_NE(find(records, "q:4")->status, "dropped");

  // stop() does not wait for the stuck delivery.
  const auto t0 = Clock::now();
  dispatcher.stop();
  EXPECT_LT(Clock::now() - t0, 1s);  // waiting for the stuck delivery would take seconds
  for (const auto& r : dispatcher.recent()) EXPECT_EQ(r.status, "dropped") << r.alert.id;
}

TEST(AlertDispatcher, HistoryKeepsTheNewestAndAlertsWithoutSinksAreRecorded) {
  AlertDispatchOptions options = fast();
  options.history = 3;
  AlertDispatcher dispatcher(alertsConfig({}), {}, logger(), {}, options);
  for (int i = 1; i <= 5; ++i) dispatcher.submit({alert("h:" + std::to_string(i))});
  ASSERT_TRUE(dispatcher.waitIdle(5s));
  const auto records = dispatcher.recent();
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].alert.id, "h:5");
  EXPECT_EQ(records[2].alert.id, "h:3");
  EXPECT_EQ(records[0].status, "no_sink");
}

TEST(AlertDispatcher, ReconfigureSwitchesSinksAndThresholds) {
  testing::HttpReceiver first;
  testing::HttpReceiver second;
  AlertDispatcher dispatcher(alertsConfig({webhook(first.url())}), totalBudget(), logger(), {},
                             fast());
  const auto now = std::chrono::system_clock::now();
  dispatcher.onSettled(settled(50), now);
  ASSERT_TRUE(dispatcher.waitIdle(5s));
  auto rules = totalBudget();
  rules.budgets[0].alert_at = {0.5, 0.6};
  dispatcher.reconfigure(alertsConfig({webhook(second.url(), config::AlertLevel::Info)}), rules);
  dispatcher.onSettled(settled(65), now);
  ASSERT_TRUE(dispatcher.waitIdle(5s));
  EXPECT_THAT(ids(first.requests()), ElementsAre(kId50));
  EXPECT_THAT(ids(second.requests()), ElementsAre("budget:org-total::0:threshold:0.6"));
}

TEST(AlertDispatcher, EmergencyStopAlerts) {
  testing::HttpReceiver hook;
  AlertDispatcher dispatcher(alertsConfig({webhook(hook.url(), config::AlertLevel::Critical)}), {},
                             logger(), {}, fast());
  const auto now = std::chrono::system_clock::now();
  core::EmergencyStopState off;
  auto on = core::manualStop(off, "runaway agent", std::nullopt, now);
  dispatcher.onEmergencyStopChanged(off, on, now);
  dispatcher.onEmergencyStopChanged(on, core::manualResume(on, {}, now + 1s), now + 1s);
  ASSERT_TRUE(dispatcher.waitIdle(5s));
  const auto requests = hook.requests();
  ASSERT_EQ(requests.size(), 1u);  // the clear is info: below this sink's min_level
  const auto body = boost::json::parse(requests[0].body).as_object();
  EXPECT_EQ(body.at("kind").as_string(), "emergency_stop_on");
  EXPECT_EQ(body.at("level").as_string(), "critical");
  EXPECT_EQ(dispatcher.recent().size(), 2u);
}

// alerts.cooldown (default 1h) holds budget repeats, not emergency-stop transitions: two on/off
// pairs within it are four events, each listed and sent.
TEST(AlertDispatcher, EveryEmergencyStopTransitionIsListedAndSentWithinTheCooldown) {
  testing::HttpReceiver hook;
  AlertDispatcher dispatcher(alertsConfig({webhook(hook.url(), config::AlertLevel::Info)}), {},
                             logger(), {}, fast());
  auto now = std::chrono::system_clock::now();
  core::EmergencyStopState state;
  for (int pair = 0; pair < 2; ++pair) {
    const auto on = core::manualStop(state, "incident", std::nullopt, now);
    dispatcher.onEmergencyStopChanged(state, on, now);
    now += 1s;
    state = core::manualResume(on, {}, now);
    dispatcher.onEmergencyStopChanged(on, state, now);
    now += 1s;
  }
  ASSERT_TRUE(dispatcher.waitIdle(5s));
  std::vector<std::string> kinds;
  for (const auto& r : hook.requests()) {
    kinds.emplace_back(boost::json::parse(r.body).as_object().at("kind").as_string());
  }
  EXPECT_THAT(kinds, UnorderedElementsAre("emergency_stop_on", "emergency_stop_off",
                                          "emergency_stop_on", "emergency_stop_off"));
  const auto recent = dispatcher.recent();
  ASSERT_EQ(recent.size(), 4u);
  for (const auto& r : recent) EXPECT_EQ(r.status, "sent") << r.alert.id;
}

TEST(AlertMessages, EmailIsAPlainTextMailWithSafeHeaders) {
  auto a = alert("budget:b::0:threshold:0.8");
  a.title = "Budget caf\xc3\xa9\r\nBcc: evil@example.com";
  a.message = "line one\n.line two";
  const auto mail =
      emailMessage(a, "from@example.com", {"a@example.com"},
                   std::chrono::system_clock::time_point(std::chrono::seconds(1714564800)));
  EXPECT_THAT(mail, HasSubstr("Date: Wed, 01 May 2024 12:00:00 +0000\r\n"));
  EXPECT_THAT(mail, HasSubstr("Subject: =?UTF-8?B?"));
  EXPECT_THAT(mail, ::testing::Not(HasSubstr("\r\nBcc:")));
  EXPECT_THAT(mail, HasSubstr("Content-Type: text/plain; charset=utf-8\r\n"));
  EXPECT_THAT(mail, HasSubstr("\r\n\r\nline one\r\n.line two\r\n"));
  EXPECT_THAT(mail, HasSubstr("  spent_usd: 80\r\n"));

  auto plain = alert("x");
  EXPECT_THAT(emailMessage(plain, "f@x", {"t@x"}, std::chrono::system_clock::now()),
              HasSubstr("Subject: [spendgate WARNING] Budget b reached 80% of its day limit\r\n"));
}

TEST(AlertMessages, DotStuffingSurvivesTheSmtpRoundTrip) {
  testing::SmtpReceiver smtp;
  AlertDispatcher dispatcher(alertsConfig({email(smtp.url())}), {}, logger(), {}, fast());
  auto a = alert("dots");
  a.message = "first\n.\n..second";
  dispatcher.submit({a});
  ASSERT_TRUE(dispatcher.waitIdle(5s));
  const auto mails = smtp.mails();
  ASSERT_EQ(mails.size(), 1u);
  EXPECT_THAT(mails[0].data, HasSubstr("\r\n\r\nfirst\r\n.\r\n..second\r\n"));
}

}  // namespace
}  // namespace spendgate::proxy
