#pragma once

#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace spendgate::proxy {

/**
 * The options of one command, parsed strictly: an option the command does not know, a missing
 * value, an option given twice or a stray argument is an error, so a misspelt `--for` can never
 * be dropped silently (SPEC §1: exit 1 on a user error).
 *
 * Values come as `--name VALUE` or `--name=VALUE`. A next argument that starts with '-' is not
 * taken as a value (`--reason --for 1h` is a missing reason); `--name=-x` passes such a value.
 */
class CliOptions {
public:
  struct Option {
    std::string_view name;        // "--reason"
    bool takes_value = false;     // else a flag: `--json`
    std::string_view alias = {};  // "-c" for "--config"
  };

  /**
   * @param args the arguments after the command words (`estop on`, `key new`, ...)
   * @return the options, or nullopt with `error` set to a one-line message
   */
  static std::optional<CliOptions> parse(const std::vector<std::string>& args,
                                         std::initializer_list<Option> known,
                                         std::string& error);

  bool has(std::string_view name) const { return values_.contains(name); }
  /** @return the value given to `name` (its long name), or nullopt when absent. */
  std::optional<std::string> value(std::string_view name) const;

private:
  std::map<std::string, std::string, std::less<>> values_;  // long name -> value ("" for flags)
};

}  // namespace spendgate::proxy
