#pragma once

#include <boost/json/value.hpp>
#include <chrono>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// `spendgate spend` and `spendgate budgets` (SPEC §1): reports from the admin API.
namespace spendgate::proxy {

/**
 * `spendgate spend [--by DIMENSION] [--period day|week|month|hour] [--admin URL] [--json]`.
 * @param args the arguments after the word `spend`
 * @param admin_url the admin API base URL (CommandLine::adminUrl(); a `--admin` in args wins)
 * Token from $SPENDGATE_ADMIN_TOKEN.
 * @return 0 ok, 1 bad usage or an error answer from the admin API, 2 admin API unreachable or
 * its answer unreadable
 */
int runSpendCommand(const std::vector<std::string>& args,
                    const std::string& admin_url,
                    std::ostream& out = std::cout,
                    std::ostream& err = std::cerr);

/** `spendgate budgets [--admin URL] [--json]`; arguments and exit codes as runSpendCommand. */
int runBudgetsCommand(const std::vector<std::string>& args,
                      const std::string& admin_url,
                      std::ostream& out = std::cout,
                      std::ostream& err = std::cerr);

/** Usage lines of both commands, for the main usage text. */
extern const char* const kReportCommandsUsage;

/**
 * @return the table for a GET /admin/spend answer; nullopt with `error` when it has not that shape.
 * @param by the dimension asked for (column title)
 */
std::optional<std::string> formatSpendTable(const boost::json::value& report,
                                            std::string_view by,
                                            std::string& error);

/**
 * @return the table for a GET /admin/budgets answer; nullopt with `error` when it has not that
 * shape. `now` is for "resets in".
 */
std::optional<std::string> formatBudgetsTable(const boost::json::value& budgets,
                                              std::chrono::system_clock::time_point now,
                                              std::string& error);

/** @return decimals (2..12) that show `smallest_nonzero` USD with three significant digits. */
int usdDecimals(double smallest_nonzero);

/** @return "13h 29m", "2d 4h", "45s": a short rendering of a non-negative duration. */
std::string shortDuration(std::chrono::seconds duration);

}  // namespace spendgate::proxy
