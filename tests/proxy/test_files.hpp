#pragma once

// Shared by the proxy tests that write files (ledger, emergency-stop file) or need a logger.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "proxy/logging/logger.hpp"

namespace spendgate::proxy::test_support {

/** A logger that writes nothing, for code under test that needs one. */
inline Logger& quietLogger() {
  static Logger instance(config::LoggingConfig{config::LoggingConfig::Format::Text, "off"});
  return instance;
}

/**
 * A path in the temporary folder, unique to this process and the running test:
 * `<tmp>/<prefix>_<pid>_<test name><suffix>`. Nothing is created.
 */
inline std::filesystem::path perTestTempPath(std::string_view prefix,
                                             std::string_view suffix = {}) {
  std::string name(prefix);
  name += '_';
  name += std::to_string(::getpid());
  name += '_';
  name += ::testing::UnitTest::GetInstance()->current_test_info()->name();
  name += suffix;
  return std::filesystem::temp_directory_path() / name;
}

/** @return the whole file, or "" when it cannot be read. */
inline std::string readWholeFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace spendgate::proxy::test_support
