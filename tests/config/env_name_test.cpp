#include "config/env_name.hpp"

#include <gtest/gtest.h>

namespace spendgate::config {
namespace {

TEST(EnvName, ValidNames) {
  for (const char* name : {"OPENAI_API_KEY", "_X", "a1", "SLACK_WEBHOOK_URL"}) {
    EXPECT_TRUE(isValidEnvName(name)) << name;
    EXPECT_EQ(checkEnvName(name), std::nullopt) << name;
  }
}

TEST(EnvName, InvalidNames) {
  for (const char* name : {"", "1ABC", "MY-VAR", "A B", "$HOME"}) {
    EXPECT_FALSE(isValidEnvName(name)) << name;
  }
  EXPECT_EQ(checkEnvName("MY-VAR"),
            "'MY-VAR' is not an environment variable name (letters, digits and '_', not starting "
            "with a digit)");
  EXPECT_EQ(checkEnvName(""), "must name an environment variable");
}

TEST(EnvName, SecretsAreFlaggedWithoutRepeatingThem) {
  const auto message = checkEnvName("sk-proj-abcdefghijklmnopqrstuvwxyz0123");
  ASSERT_TRUE(message.has_value());
  EXPECT_EQ(*message,
            "value starting 'sk-...' looks like a secret; *_env keys name an environment variable "
            "that holds it (e.g. OPENAI_API_KEY), never the secret itself");
  EXPECT_EQ(message->find("abcdef"), std::string::npos);
  // Valid as a name, but a Google API key shape.
  EXPECT_TRUE(checkEnvName("AIzaSyA1234567890abcdefghijklmnopqrs").has_value());
  // Long, not a name, no URL characters: a pasted token.
  EXPECT_TRUE(checkEnvName("abcd-efgh-ijkl-mnop-qrst-uvwx").value().find("looks like a secret") !=
              std::string::npos);
}

TEST(EnvName, UrlsAreFlagged) {
  EXPECT_EQ(checkEnvName("https://hooks.slack.com/services/T0/B0/x"),
            "'https://hooks.slack.com/services/T0/B0/x' looks like a URL; *_env keys name an "
            "environment variable that holds it");
}

}  // namespace
}  // namespace spendgate::config
