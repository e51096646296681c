#include "config/env_name.hpp"

namespace spendgate::config {

namespace {

bool startsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

// Prefixes of well-known credentials: OpenAI/Anthropic (sk-), Google (AIza), Slack, GitHub.
constexpr std::string_view kSecretPrefixes[] = {"sk-",   "sk_",  "AIza",    "xoxb-",
                                                "xoxp-", "ghp_", "Bearer ", "bearer "};

bool looksLikeSecret(std::string_view value) {
  for (std::string_view prefix : kSecretPrefixes) {
    if (startsWith(value, prefix)) return true;
  }
  // A long token that is not a valid name is almost certainly a key pasted in.
  return value.size() >= 24 && !isValidEnvName(value) &&
         value.find_first_of(" /:") == std::string_view::npos;
}

}  // namespace

bool isValidEnvName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (!letter && !(digit && i > 0)) return false;
  }
  return true;
}

std::optional<std::string> checkEnvName(std::string_view name) {
  if (name.empty()) return "must name an environment variable";
  if (looksLikeSecret(name)) {
    return "value starting '" + std::string(name.substr(0, 3)) +
           "...' looks like a secret; *_env keys name an environment variable that holds it "
           "(e.g. OPENAI_API_KEY), never the secret itself";
  }
  // The value may be a credential (a Slack webhook URL is one): the message names the problem,
  // never the value, since it reaches check's stderr, the log and the reload answer.
  if (name.find("://") != std::string_view::npos) {
    return "the value looks like a URL; *_env keys name an environment variable that holds it "
           "(e.g. SLACK_WEBHOOK_URL), never the URL itself";
  }
  if (!isValidEnvName(name)) {
    std::size_t bad = 0;
    while (bad < name.size() && isValidEnvName(name.substr(0, bad + 1))) ++bad;
    return "the value is not an environment variable name (letters, digits and '_', not starting "
           "with a digit): character " +
           std::to_string(bad + 1) + " of " + std::to_string(name.size()) + " is not allowed";
  }
  return std::nullopt;
}

}  // namespace spendgate::config
