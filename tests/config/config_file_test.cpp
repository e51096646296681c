#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "config/config_loader.hpp"
#include "tests/config/config_test_util.hpp"

namespace spendgate::config {
namespace {

using ::testing::ElementsAre;
using testing::errorsOf;

class ConfigFileTest : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("spendgate_config_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }

  std::filesystem::path dir_;
};

TEST_F(ConfigFileTest, MissingFileIsOneError) {
  const std::string path = (dir_ / "nope.yaml").string();
  const LoadResult r = loadConfigFile(path);
  EXPECT_FALSE(r.config.has_value());
  EXPECT_THAT(r.errors, ElementsAre(path + ": cannot read: No such file or directory"));
}

TEST_F(ConfigFileTest, DirectoryIsOneError) {
  const LoadResult r = loadConfigFile(dir_.string());
  EXPECT_THAT(r.errors, ElementsAre(dir_.string() + ": cannot read: Is a directory"));
}

TEST_F(ConfigFileTest, EmptyFileGivesDefaultsWithSource) {
  const std::string path = write("empty.yaml", "");
  const LoadResult r = loadConfigFile(path);
  ASSERT_TRUE(r.config.has_value());
  EXPECT_EQ(r.config->source, path);
  EXPECT_EQ(r.config->providers.size(), 3u);
}

TEST_F(ConfigFileTest, ErrorsCarryThePath) {
  const std::string path = write("bad.yaml", "server:\n  listn: x\n");
  EXPECT_THAT(loadConfigFile(path).errors,
              ElementsAre(path + ":2:3: unknown key 'listn' in server (did you mean 'listen'?)"));
}

TEST_F(ConfigFileTest, CaFileMustBeReadable) {
  const std::string ca = write("ca.pem", "-----BEGIN CERTIFICATE-----\n");
  const LoadResult ok = testing::load("providers:\n  openai: { ca_file: \"" + ca + "\" }\n");
  ASSERT_THAT(ok.errors, ElementsAre());
  EXPECT_EQ(ok.config->providers.at(0).ca_file, ca);

  const std::string missing = (dir_ / "missing.pem").string();
  EXPECT_THAT(errorsOf("providers:\n  openai: { ca_file: \"" + missing + "\" }\n"),
              ElementsAre("cfg.yaml:2:22: providers.openai.ca_file: cannot read '" + missing +
                          "': No such file or directory"));
}

TEST_F(ConfigFileTest, CaFileNeedsHttps) {
  const std::string ca = write("ca.pem", "x");
  EXPECT_THAT(errorsOf("providers:\n  openai:\n    base_url: \"http://127.0.0.1:9\"\n    "
                       "ca_file: \"" +
                       ca + "\"\n"),
              ElementsAre("cfg.yaml:4:14: providers.openai.ca_file: ca_file only applies to an "
                          "https base_url"));
}

TEST_F(ConfigFileTest, PricingCatalogPathMustBeReadable) {
  const std::string catalog = write("prices.yaml", "models: {}\n");
  const LoadResult ok = testing::load("pricing: { catalog: \"" + catalog + "\" }\n");
  ASSERT_THAT(ok.errors, ElementsAre());
  EXPECT_EQ(ok.config->pricing.catalog, catalog);

  const std::string missing = (dir_ / "none.yaml").string();
  EXPECT_THAT(errorsOf("pricing: { catalog: \"" + missing + "\" }\n"),
              ElementsAre("cfg.yaml:1:21: pricing.catalog: cannot read '" + missing +
                          "': No such file or directory"));
}

}  // namespace
}  // namespace spendgate::config
