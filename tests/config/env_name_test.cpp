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
            "the value is not an environment variable name (letters, digits and '_', not starting "
            "with a digit): character 3 of 6 is not allowed");
  EXPECT_NE(checkEnvName("1ABC").value().find("character 1 of 4"), std::string::npos);
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

// A URL held in url_env is usually the webhook itself, a credential: the message must not repeat
// any of it (it reaches check's stderr, the log and the POST /admin/reload answer).
TEST(EnvName, UrlsAreFlaggedWithoutRepeatingThem) {
  const auto message = checkEnvName("https://hooks.slack.com/services/T0/B0/SECRETTOKEN");
  ASSERT_TRUE(message.has_value());
  EXPECT_EQ(*message,
            "the value looks like a URL; *_env keys name an environment variable that holds it "
            "(e.g. SLACK_WEBHOOK_URL), never the URL itself");
}

TEST(EnvName, InvalidNamesAreNotRepeated) {
  for (const char* value : {"my secret value", "SECRET-TOKEN", "$SECRETTOKEN", "9SECRET"}) {
    const auto message = checkEnvName(value);
    ASSERT_TRUE(message.has_value()) << value;
    EXPECT_EQ(message->find("SECRET"), std::string::npos) << *message;
    EXPECT_EQ(message->find("secret value"), std::string::npos) << *message;
  }
}

}  // namespace
}  // namespace spendgate::config
