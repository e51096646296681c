#include "proxy/cli/command_line.hpp"

#include <filesystem>
#include <iostream>

#include "config/config_loader.hpp"
#include "config/price_catalog_loader.hpp"
#include "core/pricing/price_catalog.hpp"
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
    ProxyServer server(runtime, logger, ledger);
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
