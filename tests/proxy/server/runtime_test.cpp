#include "proxy/server/runtime.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>

#include "config/config_loader.hpp"

namespace spendgate::proxy {
namespace {

RuntimePtr build(const std::string& yaml, std::vector<std::string>& errors) {
  auto loaded = config::loadConfigString(yaml, "cfg.yaml");
  EXPECT_TRUE(loaded.errors.empty()) << (loaded.errors.empty() ? "" : loaded.errors.front());
  return Runtime::build(std::move(*loaded.config), errors);
}

TEST(Runtime, UnsetOrEmptyProviderKeyVariableWarnsAndNamesTheVariable) {
  ::unsetenv("SPENDGATE_RT_TEST_UNSET");
  ::setenv("SPENDGATE_RT_TEST_EMPTY", "", 1);
  ::setenv("SPENDGATE_RT_TEST_SET", "sk-real-secret", 1);
  std::vector<std::string> errors;
  const auto runtime = build(
      "providers:\n"
      "  a: { format: openai, base_url: \"http://127.0.0.1:1\", routes: [\"/a/\"], "
      "api_key_env: SPENDGATE_RT_TEST_UNSET }\n"
      "  b: { format: anthropic, base_url: \"http://127.0.0.1:1\", routes: [\"/b/\"], "
      "api_key_env: SPENDGATE_RT_TEST_EMPTY }\n"
      "  c: { format: gemini, base_url: \"http://127.0.0.1:1\", routes: [\"/c/\", "
      "\"/upload/v1beta/\"], api_key_env: SPENDGATE_RT_TEST_SET }\n"
      "  d: { format: openai, base_url: \"http://127.0.0.1:1\", routes: [\"/d/\"], "
      "api_key_env: \"\" }\n"
      "identity:\n"
      "  virtual_keys:\n"
      "    - { id: vk, key_sha256: \"" +
          std::string(64, 'a') + "\" }\n",
      errors);
  ASSERT_TRUE(runtime) << (errors.empty() ? "" : errors.front());
  auto provider = [&](const std::string& name) -> const ProviderRuntime& {
    for (const auto& p : runtime->providers) {
      if (p.config.name == name) return p;
    }
    ADD_FAILURE() << "no provider " << name;
    return runtime->providers.front();
  };
  EXPECT_EQ(provider("a").missing_key,
            "spendgate has no provider key for a: the environment variable "
            "SPENDGATE_RT_TEST_UNSET is not set");
  EXPECT_EQ(provider("b").missing_key,
            "spendgate has no provider key for b: the environment variable "
            "SPENDGATE_RT_TEST_EMPTY is empty");
  EXPECT_EQ(provider("c").missing_key, "");
  EXPECT_EQ(provider("c").api_key, "sk-real-secret");
  EXPECT_EQ(provider("d").missing_key, "");  // no api_key_env: nothing is ever injected

  // One warning per provider with a missing key; never a key's value.
  ASSERT_EQ(runtime->warnings.size(), 2u);
  EXPECT_NE(runtime->warnings[0].find("SPENDGATE_RT_TEST_UNSET is not set"), std::string::npos);
  EXPECT_NE(runtime->warnings[1].find("SPENDGATE_RT_TEST_EMPTY is empty"), std::string::npos);
  for (const auto& warning : runtime->warnings) {
    EXPECT_EQ(warning.find("sk-real-secret"), std::string::npos);
  }
}

TEST(Runtime, NoVirtualKeysNoWarningForAnUnsetProviderKey) {
  // Every caller brings its own key, so the variable is never read: nothing to warn about.
  ::unsetenv("SPENDGATE_RT_TEST_UNSET");
  std::vector<std::string> errors;
  const auto runtime = build(
      "providers:\n"
      "  a: { format: openai, base_url: \"http://127.0.0.1:1\", routes: [\"/a/\"], "
      "api_key_env: SPENDGATE_RT_TEST_UNSET }\n",
      errors);
  ASSERT_TRUE(runtime) << (errors.empty() ? "" : errors.front());
  EXPECT_TRUE(runtime->warnings.empty()) << runtime->warnings.front();
}

// Audit 13: SPEC's example routes for gemini (["/v1beta/"]) make google-genai's files.upload a
// 404, and check said nothing.
TEST(Runtime, AGeminiProviderWithoutTheUploadRouteWarns) {
  std::vector<std::string> errors;
  const auto without = build(
      "providers:\n"
      "  gemini: { format: gemini, base_url: \"http://127.0.0.1:1\", routes: [\"/v1beta/\"] }\n",
      errors);
  ASSERT_TRUE(without) << (errors.empty() ? "" : errors.front());
  ASSERT_EQ(without->warnings.size(), 1u);
  EXPECT_EQ(without->warnings[0],
            "provider gemini: no route of it takes /upload/v1beta/files (google-genai's "
            "files.upload): add \"/upload/v1beta/\" to its routes, or uploads get 404");
  // The built-in routes have it, and so may a wider prefix of the provider's own.
  for (const char* routes : {"[\"/v1beta/\", \"/upload/v1beta/\"]", "[\"/\"]"}) {
    const auto with = build(std::string("providers:\n  gemini: { format: gemini, base_url: "
                                        "\"http://127.0.0.1:1\", routes: ") +
                                routes + " }\n",
                            errors);
    ASSERT_TRUE(with) << (errors.empty() ? "" : errors.front());
    EXPECT_TRUE(with->warnings.empty()) << routes << ": " << with->warnings.front();
  }
  const auto defaults = build("server: { threads: 1 }\n", errors);
  ASSERT_TRUE(defaults);
  EXPECT_TRUE(defaults->warnings.empty()) << defaults->warnings.front();
}

TEST(Runtime, NonLoopbackAdminWithoutItsTokenIsAnErrorAtTheListenValue) {
  ::unsetenv("SPENDGATE_RT_TEST_ADMIN");
  const std::string yaml =
      "admin:\n"
      "  listen: \"0.0.0.0:18781\"\n"
      "  token_env: SPENDGATE_RT_TEST_ADMIN\n";
  std::vector<std::string> errors;
  EXPECT_FALSE(build(yaml, errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0],
            "cfg.yaml:2:11: admin.listen: 0.0.0.0:18781 is not a loopback address and "
            "$SPENDGATE_RT_TEST_ADMIN is not set: set the admin token there or listen on "
            "127.0.0.1");

  ::setenv("SPENDGATE_RT_TEST_ADMIN", "", 1);
  errors.clear();
  EXPECT_FALSE(build(yaml, errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("$SPENDGATE_RT_TEST_ADMIN is empty"), std::string::npos) << errors[0];

  ::setenv("SPENDGATE_RT_TEST_ADMIN", "admin-secret", 1);
  errors.clear();
  EXPECT_TRUE(build(yaml, errors));
  EXPECT_TRUE(errors.empty());
  ::unsetenv("SPENDGATE_RT_TEST_ADMIN");
}

TEST(Runtime, AlertSinkUrlVariableUnsetWarns) {
  ::unsetenv("SPENDGATE_RT_TEST_HOOK");
  ::setenv("SPENDGATE_RT_TEST_HOOK_SET", "http://127.0.0.1:9/hook", 1);
  std::vector<std::string> errors;
  const auto runtime = build(
      "alerts:\n"
      "  sinks:\n"
      "    - { type: webhook, url: \"http://127.0.0.1:9/a\" }\n"
      "    - { type: slack, url_env: SPENDGATE_RT_TEST_HOOK }\n"
      "    - { type: webhook, url_env: SPENDGATE_RT_TEST_HOOK_SET }\n",
      errors);
  ASSERT_TRUE(runtime) << (errors.empty() ? "" : errors.front());
  ASSERT_EQ(runtime->warnings.size(), 1u);
  EXPECT_EQ(runtime->warnings[0],
            "alerts.sinks[1]: url_env SPENDGATE_RT_TEST_HOOK is not set; alerts to it will fail");
}

TEST(Runtime, UnloadableCaFileIsReportedAtItsConfigValue) {
  // Readable (the loader checks that) but no certificate in it: only loading it tells.
  const std::string pem = ::testing::TempDir() + "runtime_test_bad.pem";
  std::FILE* file = std::fopen(pem.c_str(), "w");
  ASSERT_NE(file, nullptr);
  std::fputs("not a certificate\n", file);
  std::fclose(file);
  std::vector<std::string> errors;
  const auto runtime = build(
      "providers:\n"
      "  openai:\n"
      "    base_url: \"https://127.0.0.1:1\"\n"
      "    ca_file: \"" +
          pem + "\"\n",
      errors);
  EXPECT_FALSE(runtime);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(
      errors[0].rfind("cfg.yaml:4:14: providers.openai.ca_file: cannot load " + pem + ": ", 0), 0u)
      << errors[0];
  std::remove(pem.c_str());
}

}  // namespace
}  // namespace spendgate::proxy
