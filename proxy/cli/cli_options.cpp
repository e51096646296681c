#include "proxy/cli/cli_options.hpp"

#include <algorithm>

namespace spendgate::proxy {

std::optional<CliOptions> CliOptions::parse(const std::vector<std::string>& args,
                                            std::initializer_list<Option> known,
                                            std::string& error) {
  CliOptions options;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string name = args[i];
    std::optional<std::string> inline_value;
    if (const auto equals = name.find('='); name.starts_with("--") && equals != std::string::npos) {
      inline_value = name.substr(equals + 1);
      name.resize(equals);
    }
    const auto option = std::find_if(known.begin(), known.end(), [&](const Option& o) {
      return name == o.name || (!o.alias.empty() && name == o.alias);
    });
    if (option == known.end()) {
      error = name.starts_with("-") ? "unknown option '" + name + "'"
                                    : "unexpected argument '" + args[i] + "'";
      return std::nullopt;
    }
    const std::string long_name(option->name);
    if (options.values_.contains(long_name)) {
      error = long_name + " is given twice";
      return std::nullopt;
    }
    std::string value;
    if (!option->takes_value) {
      if (inline_value) {
        error = long_name + " takes no value";
        return std::nullopt;
      }
    } else if (inline_value) {
      value = std::move(*inline_value);
    } else if (i + 1 < args.size() && !(args[i + 1].size() > 1 && args[i + 1].front() == '-')) {
      value = args[++i];
    } else {
      error = name + " needs a value";
      return std::nullopt;
    }
    options.values_.emplace(long_name, std::move(value));
  }
  return options;
}

std::optional<std::string> CliOptions::value(std::string_view name) const {
  const auto found = values_.find(name);
  if (found == values_.end()) return std::nullopt;
  return found->second;
}

}  // namespace spendgate::proxy
