#pragma once

#include <string>
#include <string_view>
#include <vector>

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
  std::string adminUrl() const;
  int usage(const std::string& problem);

  /** @return the value of -c/--config, or "" when absent */
  std::string configPath() const;
  /** @return the value after `name` (e.g. "--id"), or "" */
  std::string option(std::string_view name) const;
  bool flag(std::string_view name) const;

  std::vector<std::string> args_;
};

}  // namespace spendgate::proxy
