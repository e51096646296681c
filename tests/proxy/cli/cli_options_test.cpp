// Strict option parsing shared by every command (proxy/cli/cli_options).
#include "proxy/cli/cli_options.hpp"

#include <gtest/gtest.h>

namespace spendgate::proxy {
namespace {

const std::initializer_list<CliOptions::Option> kEstopOn = {
    {"--reason", true}, {"--for", true}, {"--json"}, {"--config", true, "-c"}};

std::string errorOf(const std::vector<std::string>& args) {
  std::string error;
  EXPECT_FALSE(CliOptions::parse(args, kEstopOn, error)) << "accepted";
  return error;
}

TEST(CliOptions, ValuesFlagsAndAliases) {
  std::string error;
  const auto options = CliOptions::parse(
      {"--reason", "runaway loop", "--for=1h", "--json", "-c", "f.yaml"}, kEstopOn, error);
  ASSERT_TRUE(options) << error;
  EXPECT_EQ(options->value("--reason"), "runaway loop");
  EXPECT_EQ(options->value("--for"), "1h");
  EXPECT_TRUE(options->has("--json"));
  EXPECT_EQ(options->value("--json"), "");
  EXPECT_EQ(options->value("--config"), "f.yaml");
  EXPECT_FALSE(options->has("--admin"));
  EXPECT_EQ(options->value("--admin"), std::nullopt);

  const auto inline_values = CliOptions::parse({"--reason=", "--for=-1h"}, kEstopOn, error);
  ASSERT_TRUE(inline_values) << error;
  EXPECT_EQ(inline_values->value("--reason"), "");
  EXPECT_EQ(inline_values->value("--for"), "-1h");
  EXPECT_TRUE(CliOptions::parse({}, kEstopOn, error));
}

TEST(CliOptions, TyposMissingValuesAndStrayArgumentsAreErrors) {
  EXPECT_EQ(errorOf({"--reson", "typo", "--fr", "1h"}), "unknown option '--reson'");
  EXPECT_EQ(errorOf({"--fr=1h"}), "unknown option '--fr'");
  EXPECT_EQ(errorOf({"-x"}), "unknown option '-x'");
  EXPECT_EQ(errorOf({"--reason"}), "--reason needs a value");
  EXPECT_EQ(errorOf({"--reason", "--for", "1h"}), "--reason needs a value");
  EXPECT_EQ(errorOf({"-c"}), "-c needs a value");
  EXPECT_EQ(errorOf({"--json=yes"}), "--json takes no value");
  EXPECT_EQ(errorOf({"--for", "1h", "--for", "2h"}), "--for is given twice");
  EXPECT_EQ(errorOf({"-c", "a", "--config", "b"}), "--config is given twice");
  EXPECT_EQ(errorOf({"--reason", "a", "b"}), "unexpected argument 'b'");
}

}  // namespace
}  // namespace spendgate::proxy
