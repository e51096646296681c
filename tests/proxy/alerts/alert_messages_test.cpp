#include "proxy/alerts/alert_messages.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <regex>

#include "core/alerts/alert_engine.hpp"
#include "core/enforcement/period.hpp"
#include "tests/core/manual_clock.hpp"

namespace spendgate::proxy {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A number in exponent notation anywhere outside a string ("1E-2", "8.465E-3", "0E0").
bool hasExponent(const std::string& json) {
  static const std::regex kExponent(R"(([:,\[]\s*-?[0-9.]+[eE][-+]?[0-9]+))");
  // Strings may hold anything: drop them first.
  static const std::regex kString(R"("(\\.|[^"\\])*")");
  return std::regex_search(std::regex_replace(json, kString, "\"\""), kExponent);
}

core::BudgetSnapshot tiny(core::Period period,
                          core::Picodollars spent,
                          std::chrono::system_clock::time_point now) {
  core::BudgetSnapshot s;
  s.name = "tiny";
  s.period = period;
  s.window = core::periodWindow(period, now);
  s.limit = 10'000'000'000;  // $0.01
  s.spent = spent;
  s.mode = core::BudgetMode::Hard;
  return s;
}

core::BudgetRule rule(core::Period period) {
  core::BudgetRule r;
  r.name = "tiny";
  r.period = period;
  r.limit = 10'000'000'000;
  r.alert_at = {0.5};
  return r;
}

TEST(AlertMessages, WebhookNumbersArePlainDecimals) {
  core::testing::ManualClock clock{core::testing::utc(2024, 5, 1, 12)};
  core::AlertEngine engine({rule(core::Period::Day)});
  // $0.008465 of $0.01 at noon: a threshold alert and a projection.
  const auto alerts =
      engine.onBudgetSettled({tiny(core::Period::Day, 8'465'000'000, clock.now())}, clock.now());
  ASSERT_EQ(alerts.size(), 2u);
  for (const auto& alert : alerts) {
    const std::string text = webhookPayload(alert);
    EXPECT_FALSE(hasExponent(text)) << text;
    const auto details = boost::json::parse(text).as_object().at("details").as_object();
    EXPECT_EQ(details.at("limit_usd").to_number<double>(), 0.01) << text;
    EXPECT_EQ(details.at("spent_usd").to_number<double>(), 0.008465) << text;
    EXPECT_EQ(details.at("reserved_usd").to_number<double>(), 0) << text;
    EXPECT_EQ(details.at("used_ratio").to_number<double>(), 0.8465) << text;
    EXPECT_THAT(text, HasSubstr(R"("limit_usd":0.01,"spent_usd":0.008465,"reserved_usd":0,)"));
    EXPECT_THAT(text, HasSubstr(R"("used_ratio":0.8465)"));
    if (alert.kind == core::AlertKind::BudgetThreshold) {
      EXPECT_THAT(text, HasSubstr(R"("threshold":0.5)"));
    } else {
      EXPECT_THAT(text, HasSubstr(R"("projected_usd":0.01693,"elapsed_ratio":0.5,)"));
    }
  }
}

TEST(AlertMessages, EmailDetailsArePlainDecimals) {
  core::Alert alert;
  alert.id = "x";
  alert.details["spent_usd"] = 0.00001;
  alert.details["limit_usd"] = 80.0;
  const std::string mail =
      emailMessage(alert, "a@example.com", {"b@example.com"}, std::chrono::system_clock::now());
  EXPECT_THAT(mail, HasSubstr("  spent_usd: 0.00001\r\n"));
  EXPECT_THAT(mail, HasSubstr("  limit_usd: 80\r\n"));
  EXPECT_THAT(mail, Not(HasSubstr("e-05")));
}

TEST(AlertMessages, EmailHeadersAreAsciiForANonAsciiAlertId) {
  // A budget named "bü€" gives the id "budget:bü€::...": the Subject was RFC 2047-encoded, but
  // X-Spendgate-Alert-Id carried the raw UTF-8 bytes, which a mail header may not (no SMTPUTF8).
  core::Alert alert;
  alert.id = "budget:b\xc3\xbc\xe2\x82\xac::1795478400:threshold:1";
  alert.title = "Budget b\xc3\xbc\xe2\x82\xac reached its day limit";
  const std::string mail =
      emailMessage(alert, "a@example.com", {"b@example.com"}, std::chrono::system_clock::now());
  const std::string head = mail.substr(0, mail.find("\r\n\r\n"));
  for (char c : head) {
    EXPECT_LT(static_cast<unsigned char>(c), 0x80) << "a non-ASCII byte in the headers:\n" << head;
  }
  // base64 of the id's UTF-8 bytes.
  EXPECT_THAT(mail, HasSubstr("X-Spendgate-Alert-Id: =?UTF-8?B?YnVkZ2V0OmLDvOKCrDo6MTc5NTQ3ODQwMDp0"
                              "aHJlc2hvbGQ6MQ==?=\r\n"));
  // The body still names the id as it is.
  EXPECT_THAT(mail.substr(head.size()), HasSubstr(alert.id));
  // An ASCII id stays as it is.
  alert.id = "budget:org-daily::1714521600:threshold:0.8";
  EXPECT_THAT(emailMessage(alert, "a@example.com", {"b@example.com"}, {}),
              HasSubstr("X-Spendgate-Alert-Id: budget:org-daily::1714521600:threshold:0.8\r\n"));
}

}  // namespace
}  // namespace spendgate::proxy
