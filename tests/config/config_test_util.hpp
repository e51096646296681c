#pragma once

#include <string>
#include <vector>

#include "config/config_loader.hpp"

namespace spendgate::config::testing {

/** Loads `yaml` as "cfg.yaml" and returns its errors (empty when it loaded). */
inline std::vector<std::string> errorsOf(const std::string& yaml) {
  return loadConfigString(yaml, "cfg.yaml").errors;
}

/** Loads `yaml` as "cfg.yaml"; the caller asserts it loaded. */
inline LoadResult load(const std::string& yaml) { return loadConfigString(yaml, "cfg.yaml"); }

inline std::string fixturePath(const std::string& name) {
  return std::string(SPENDGATE_SOURCE_DIR) + "/tests/config/fixtures/" + name;
}

}  // namespace spendgate::config::testing
