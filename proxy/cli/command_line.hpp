#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/cli/cli_options.hpp"

namespace spendgate::proxy {

/**
 * The `spendgate` command line (SPEC §1). Exit codes: 0 ok, 1 user error (bad config,
 * denied, bad usage), 2 cannot reach the admin API.
 */
class CommandLine {
public:
  explicit CommandLine(std::vector<std::string> args) : args_(std::move(args)) {}

  /** Runs the command. @return the process exit code */
  int run();

private:
  int serve();
  int check();
  int version();
  int keyNew();
  int estop();
  /** The admin API base URL: --admin, else $SPENDGATE_ADMIN_URL, else http://127.0.0.1:8081. */
  static std::string adminUrl(const std::optional<std::string>& flag);
  int usage(const std::string& problem);

  /**
   * Parses the arguments after the first `words` (the command words) against `known`; prints the
   * problem and the usage on stderr when they do not parse.
   * @return the options, or nullopt (the command then exits 1)
   */
  std::optional<CliOptions> options(std::size_t words,
                                    std::initializer_list<CliOptions::Option> known);

  std::vector<std::string> args_;
};

}  // namespace spendgate::proxy
