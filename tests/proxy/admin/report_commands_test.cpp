// `spendgate spend` / `spendgate budgets` formatting and option handling
// (proxy/cli/report_commands).
#include "proxy/cli/report_commands.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <sstream>

namespace spendgate::proxy {
namespace {

using std::chrono::system_clock;

system_clock::time_point utc(int y, unsigned m, unsigned d, int hh = 0, int mm = 0) {
  using namespace std::chrono;
  return system_clock::time_point(sys_days(year{y} / month{m} / day{d})) + hours{hh} + minutes{mm};
}

TEST(ReportCommands, UsdDecimals) {
  EXPECT_EQ(usdDecimals(0), 2);
  EXPECT_EQ(usdDecimals(500), 2);
  EXPECT_EQ(usdDecimals(1.5), 2);
  EXPECT_EQ(usdDecimals(12.5), 2);
  EXPECT_EQ(usdDecimals(0.5), 3);
  EXPECT_EQ(usdDecimals(0.05), 4);
  EXPECT_EQ(usdDecimals(0.00748), 5);
  EXPECT_EQ(usdDecimals(0.00024), 6);
  // Past six decimals too: a nonzero amount never shows as zero (at most picodollars).
  EXPECT_EQ(usdDecimals(0.00000016), 9);
  EXPECT_EQ(usdDecimals(0.0000001), 9);
  EXPECT_EQ(usdDecimals(0.000000000001), 12);
}

TEST(ReportCommands, ShortDuration) {
  EXPECT_EQ(shortDuration(std::chrono::seconds(45)), "45s");
  EXPECT_EQ(shortDuration(std::chrono::seconds(125)), "2m 5s");
  EXPECT_EQ(shortDuration(std::chrono::seconds(13 * 3600 + 29 * 60 + 3)), "13h 29m");
  EXPECT_EQ(shortDuration(std::chrono::seconds(2 * 86400 + 4 * 3600)), "2d 4h");
  EXPECT_EQ(shortDuration(std::chrono::seconds(-5)), "0s");
}

TEST(ReportCommands, SpendTable) {
  const auto report = boost::json::parse(R"({"period":"day","from":"2026-03-04T00:00:00.000Z",
    "to":"2026-03-05T00:00:00.000Z","total_usd":0.013755,"requests":4,"groups":[
    {"key":"claude-sonnet-4-5","spend_usd":0.013275,"requests":1,"input_tokens":3600,"cached_input_tokens":2000,"output_tokens":300},
    {"key":"gpt-4o-mini","spend_usd":0.00048,"requests":2,"input_tokens":200,"cached_input_tokens":20,"output_tokens":40},
    {"key":"","spend_usd":0,"requests":1,"input_tokens":5,"cached_input_tokens":0,"output_tokens":0}]})");
  std::string error;
  const auto table = formatSpendTable(report, "model", error);
  ASSERT_TRUE(table) << error;
  EXPECT_EQ(*table,
            "Spend by model, this day (2026-03-04T00:00:00Z to 2026-03-05T00:00:00Z)\n"
            "MODEL              SPEND_USD   SHARE  REQUESTS  INPUT  CACHED  OUTPUT\n"
            "claude-sonnet-4-5   0.013275   96.5%         1   3600    2000     300\n"
            "gpt-4o-mini         0.000480    3.5%         2    200      20      40\n"
            "(none)              0.000000    0.0%         1      5       0       0\n"
            "TOTAL               0.013755  100.0%         4   3805    2020     340\n");
}

TEST(ReportCommands, SpendTableNeverShowsANonzeroSpendAsZero) {
  const auto report = boost::json::parse(R"({"period":"day","from":"2026-03-04T00:00:00.000Z",
    "to":"2026-03-05T00:00:00.000Z","total_usd":0.00000016,"requests":1,"groups":[
    {"key":"gpt-4.1-nano","spend_usd":0.00000016,"requests":1,"input_tokens":1,"cached_input_tokens":0,"output_tokens":0}]})");
  std::string error;
  const auto table = formatSpendTable(report, "model", error);
  ASSERT_TRUE(table) << error;
  EXPECT_EQ(*table,
            "Spend by model, this day (2026-03-04T00:00:00Z to 2026-03-05T00:00:00Z)\n"
            "MODEL           SPEND_USD   SHARE  REQUESTS  INPUT  CACHED  OUTPUT\n"
            "gpt-4.1-nano  0.000000160  100.0%         1      1       0       0\n"
            "TOTAL         0.000000160  100.0%         1      1       0       0\n");
}

TEST(ReportCommands, SpendTableEmptyAndMalformed) {
  const auto empty = boost::json::parse(R"({"period":"week","from":"2026-03-02T00:00:00.000Z",
    "to":"2026-03-09T00:00:00.000Z","total_usd":0,"requests":0,"groups":[]})");
  std::string error;
  auto table = formatSpendTable(empty, "key", error);
  ASSERT_TRUE(table) << error;
  EXPECT_EQ(*table,
            "Spend by key, this week (2026-03-02T00:00:00Z to 2026-03-09T00:00:00Z)\n"
            "No requests in this period.\n");
  EXPECT_FALSE(formatSpendTable(boost::json::parse("[]"), "key", error));
  EXPECT_FALSE(formatSpendTable(boost::json::parse(R"({"period":"day"})"), "key", error));
}

TEST(ReportCommands, BudgetsTable) {
  const auto budgets = boost::json::parse(R"([
    {"name":"org-daily","scope":"global","subject":"","period":"day","period_start":"2026-03-04T00:00:00.000Z",
     "period_end":"2026-03-05T00:00:00.000Z","limit_usd":500,"spent_usd":12.5,"reserved_usd":0.25,
     "remaining_usd":487.25,"used_ratio":0.025,"projected_usd":28.571428,"mode":"hard"},
    {"name":"per-team","scope":"team","subject":"search","period":"month","period_start":"2026-03-01T00:00:00.000Z",
     "period_end":"2026-04-01T00:00:00.000Z","limit_usd":50,"spent_usd":0.00024,"reserved_usd":0,
     "remaining_usd":49.99976,"used_ratio":0.0000048,"projected_usd":0.0018,"mode":"soft"},
    {"name":"lifetime","scope":"key","subject":"","period":"total","period_start":"1970-01-01T00:00:00.000Z",
     "period_end":null,"limit_usd":1000,"spent_usd":1,"reserved_usd":0,
     "remaining_usd":999,"used_ratio":0.001,"projected_usd":1,"mode":"hard"}])");
  std::string error;
  const auto table = formatBudgetsTable(budgets, utc(2026, 3, 4, 10, 30), error);
  ASSERT_TRUE(table) << error;
  EXPECT_EQ(*table,
            // One number of decimals in every money column (was 0.250 next to 12.500000).
            "NAME       SCOPE   SUBJECT  PERIOD  SPENT_USD  RESERVED_USD    LIMIT_USD   USED  "
            "PROJECTED_USD  MODE  RESETS_AT\n"
            "org-daily  global  (all)    day     12.500000      0.250000   500.000000   2.5%  "
            "    28.571428  hard  2026-03-05T00:00:00Z (in 13h 30m)\n"
            "per-team   team    search   month    0.000240      0.000000    50.000000  <0.1%  "
            "     0.001800  soft  2026-04-01T00:00:00Z (in 27d 13h)\n"
            "lifetime   key     (none)   total    1.000000      0.000000  1000.000000   0.1%  "
            "     1.000000  hard  never\n");
  EXPECT_EQ(*formatBudgetsTable(boost::json::parse("[]"), utc(2026, 3, 4), error),
            "No budgets to show (none in the config's budgets:, or only per-subject ones not "
            "charged yet this period).\n");
  EXPECT_FALSE(formatBudgetsTable(boost::json::parse("{}"), utc(2026, 3, 4), error));
  EXPECT_FALSE(formatBudgetsTable(boost::json::parse(R"([{"name":"x"}])"), utc(2026, 3, 4), error));
}

TEST(ReportCommands, BadOptionsAreUserErrors) {
  std::ostringstream out, err;
  EXPECT_EQ(runSpendCommand({"--by", "colour"}, "http://127.0.0.1:1", out, err), 1);
  EXPECT_NE(err.str().find("--by must be one of"), std::string::npos);
  EXPECT_EQ(runSpendCommand({"--period=year"}, "http://127.0.0.1:1", out, err), 1);
  EXPECT_EQ(runSpendCommand({"--frobnicate"}, "http://127.0.0.1:1", out, err), 1);
  EXPECT_EQ(runSpendCommand({"--by"}, "http://127.0.0.1:1", out, err), 1);
  EXPECT_EQ(runBudgetsCommand({"--by", "model"}, "http://127.0.0.1:1", out, err), 1);
  EXPECT_EQ(runBudgetsCommand({"--help"}, "http://127.0.0.1:1", out, err), 0);
}

TEST(ReportCommands, UnreachableAdminApiExits2) {
  std::ostringstream out, err;
  // Port 1 on loopback: nothing listens there.
  EXPECT_EQ(runSpendCommand({"--by", "key"}, "http://127.0.0.1:1", out, err), 2);
  EXPECT_NE(err.str().find("cannot reach the admin API"), std::string::npos) << err.str();
  EXPECT_EQ(runBudgetsCommand({"--json"}, "http://127.0.0.1:1", out, err), 2);
  EXPECT_EQ(runBudgetsCommand({"--admin", "http://127.0.0.1:1"}, "http://127.0.0.1:8081", out, err),
            2);
  EXPECT_TRUE(out.str().empty());
}

}  // namespace
}  // namespace spendgate::proxy
