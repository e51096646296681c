#include "proxy/cli/command_line.hpp"

#include <openssl/rand.h>

#include <filesystem>
#include <iostream>

#include "config/config_loader.hpp"
#include "config/price_catalog_loader.hpp"
#include "core/pricing/price_catalog.hpp"
#include "core/store/memory_counter_store.hpp"
#include "proxy/enforcement/enforcer.hpp"
#include "proxy/identity/caller_key.hpp"
#include "proxy/ledger/ledger_writer.hpp"
#include "proxy/logging/logger.hpp"
#include "proxy/server/proxy_server.hpp"
#include "proxy/server/runtime.hpp"

namespace spendgate::proxy {

namespace {

constexpr const char* kUsage =
    "usage: spendgate <command> [options]\n"
    "  serve [-c FILE]     run the proxy (default config: ./spendgate.yaml, else built-in)\n"
    "  check -c FILE       validate a config file\n"
    "  key new [--id ID] [--json]\n"
    "                      print a new virtual key and its key_sha256 config line\n"
    "  version             print version information\n";

std::string hostPort(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  std::string host = address.to_string();
  if (address.is_v6()) host = "[" + host + "]";
  return host + ":" + std::to_string(endpoint.port());
}

void printWhereToPoint(const Runtime& runtime,
                       const tcp::endpoint& proxy,
                       const tcp::endpoint& admin) {
  const std::string base = "http://" + hostPort(proxy);
  std::cout << "spendgate " << SPENDGATE_VERSION << " listening on " << base << "\n";
  std::cout << "admin API on http://" << hostPort(admin) << "\n";
  std::cout << "point your clients here:\n";
  for (const auto& provider : runtime.providers) {
    const auto& config = provider.config;
    switch (config.format) {
      case core::ProviderFormat::OpenAI:
        std::cout << "  OPENAI_BASE_URL=" << base << "/v1";
        break;
      case core::ProviderFormat::Anthropic:
        std::cout << "  ANTHROPIC_BASE_URL=" << base;
        break;
      case core::ProviderFormat::Gemini:
        std::cout << "  Gemini base URL: " << base;
        break;
      case core::ProviderFormat::Azure:
        std::cout << "  AZURE_OPENAI_ENDPOINT=" << base;
        break;
    }
    std::cout << "   (" << config.name << " -> " << config.base_url << ")\n";
  }
  std::cout.flush();
}

}  // namespace

int CommandLine::run() {
  if (args_.empty()) return usage("no command given");
  const std::string& command = args_.front();
  if (command == "serve") return serve();
  if (command == "check") return check();
  if (command == "version" || command == "--version") return version();
  if (command == "key") {
    if (args_.size() >= 2 && args_[1] == "new") return keyNew();
    return usage("key needs a subcommand: key new [--id ID]");
  }
  if (command == "help" || command == "--help" || command == "-h") {
    std::cout << kUsage;
    return 0;
  }
  return usage("unknown command '" + command + "'");
}

int CommandLine::usage(const std::string& problem) {
  std::cerr << "spendgate: " << problem << "\n" << kUsage;
  return 1;
}

std::string CommandLine::configPath() const {
  for (std::size_t i = 1; i < args_.size(); ++i) {
    if (args_[i] == "-c" || args_[i] == "--config") {
      return i + 1 < args_.size() ? args_[i + 1] : std::string{};
    }
    if (args_[i].starts_with("--config=")) return args_[i].substr(9);
  }
  return {};
}

std::string CommandLine::option(std::string_view name) const {
  for (std::size_t i = 1; i < args_.size(); ++i) {
    if (args_[i] == name) return i + 1 < args_.size() ? args_[i + 1] : std::string{};
    if (args_[i].starts_with(std::string(name) + "=")) return args_[i].substr(name.size() + 1);
  }
  return {};
}

bool CommandLine::flag(std::string_view name) const {
  for (std::size_t i = 1; i < args_.size(); ++i) {
    if (args_[i] == name) return true;
  }
  return false;
}

int CommandLine::keyNew() {
  unsigned char random[32];
  if (RAND_bytes(random, sizeof random) != 1) {
    std::cerr << "spendgate: cannot get random bytes for a key\n";
    return 1;
  }
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  // 32 characters from 62: about 190 bits, far past guessing; the modulo bias is immaterial.
  std::string key = "sk-sg-";
  for (unsigned char byte : random) key += kAlphabet[byte % 62];
  const std::string hash = sha256Hex(key);
  std::string id = option("--id");
  if (id.empty()) id = "key-" + hash.substr(0, 8);
  if (flag("--json")) {
    std::cout << "{\"id\":\"" << id << "\",\"key\":\"" << key << "\",\"key_sha256\":\"" << hash
              << "\"}\n";
    return 0;
  }
  std::cout << "key:        " << key << "\n"
            << "key_sha256: " << hash << "\n\n"
            << "Give the key to the caller; it is not stored anywhere. Add this under\n"
            << "identity.virtual_keys in your config:\n"
            << "  - { id: " << id << ", key_sha256: \"" << hash << "\" }\n";
  return 0;
}

int CommandLine::check() {
  const std::string path = configPath();
  if (path.empty()) return usage("check needs -c FILE");
  const auto result = config::loadConfigFile(path);
  for (const auto& error : result.errors) std::cerr << error << "\n";
  if (!result.errors.empty() || !result.config) return 1;
  std::cout << path << ": ok\n";
  return 0;
}

int CommandLine::version() {
  const auto& catalog = config::builtinPriceCatalog();
  std::cout << "spendgate " << SPENDGATE_VERSION << " (built " << __DATE__ << ")\n"
            << "price catalog " << catalog.version() << " (" << catalog.date() << ", "
            << catalog.size() << " models)\n";
  return 0;
}

int CommandLine::serve() {
  std::string path = configPath();
  if (path.empty() && std::filesystem::exists("spendgate.yaml")) path = "spendgate.yaml";

  config::Config config = config::defaultConfig();
  if (!path.empty()) {
    auto result = config::loadConfigFile(path);
    for (const auto& error : result.errors) std::cerr << error << "\n";
    if (!result.errors.empty() || !result.config) return 1;
    config = std::move(*result.config);
  }

  std::vector<std::string> errors;
  auto runtime = Runtime::build(config, errors);
  for (const auto& error : errors) std::cerr << "spendgate: " << error << "\n";
  if (!runtime) return 1;

  Logger logger(runtime->config.logging);
  logger.info(path.empty() ? "no config file: using built-in defaults"
                           : "configuration from " + path);
  try {
    LedgerWriter ledger(runtime->config.ledger.path, logger);
    Enforcer enforcer(std::make_shared<core::MemoryCounterStore>(),
                      runtime->config.store.redis.on_unavailable, logger);
    ProxyServer server(runtime, Services{logger, ledger, enforcer});
    server.bind();
    printWhereToPoint(*runtime, server.proxyEndpoint(), server.adminEndpoint());
    server.run();
    ledger.flush();
  } catch (const std::exception& e) {
    logger.error(e.what());
    logger.flush();
    std::cerr << "spendgate: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace spendgate::proxy
