#include "proxy/server/runtime.hpp"

#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>
#include <cstdlib>

#include "config/config_loader.hpp"
#include "config/enforcement_rules.hpp"
#include "config/listen_address.hpp"
#include "config/price_catalog_loader.hpp"
#include "core/pricing/pricer.hpp"

namespace spendgate::proxy {

namespace {

std::shared_ptr<boost::asio::ssl::context> makeClientTls(const config::ProviderConfig& provider,
                                                         std::vector<std::string>& errors) {
  namespace ssl = boost::asio::ssl;
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  boost::system::error_code ec;
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  // Verification is always on: ca_file can add a trust anchor, nothing can remove checks.
  context->set_verify_mode(ssl::verify_peer);
  context->set_default_verify_paths(ec);
  if (ec) {
    errors.push_back("provider " + provider.name +
                     ": cannot load the system trust store: " + ec.message());
  }
  if (!provider.ca_file.empty()) {
    context->load_verify_file(provider.ca_file, ec);
    if (ec) {
      // The loader only saw that the file is readable; point at the config value it came from.
      const std::string where = provider.ca_file_at.empty()
                                    ? "provider " + provider.name + ": cannot load ca_file "
                                    : provider.ca_file_at + ": cannot load ";
      errors.push_back(where + provider.ca_file + ": " + ec.message());
    }
  }
  // Resumed sessions save a round trip on every new upstream connection.
  SSL_CTX_set_session_cache_mode(context->native_handle(), SSL_SESS_CACHE_CLIENT);
  return context;
}

constexpr std::string_view kGeminiUploadPath = "/upload/v1beta/files";

}  // namespace

std::shared_ptr<const Runtime> Runtime::build(config::Config config,
                                              std::vector<std::string>& errors) {
  auto runtime = std::make_shared<Runtime>();
  for (std::size_t i = 0; i < config.providers.size(); ++i) {
    const auto& provider = config.providers[i];
    ProviderRuntime live;
    live.config = provider;
    const auto& up = provider.upstream;
    const bool default_port = (up.tls && up.port == 443) || (!up.tls && up.port == 80);
    const bool ipv6 = up.host.find(':') != std::string::npos;
    live.host_header = ipv6 ? "[" + up.host + "]" : up.host;
    if (!default_port) live.host_header += ":" + std::to_string(up.port);
    live.pool_key = (up.tls ? "https://" : "http://") + live.host_header + "|" + provider.ca_file;
    if (up.tls) live.tls = makeClientTls(provider, errors);
    if (!provider.api_key_env.empty()) {
      const char* key = std::getenv(provider.api_key_env.c_str());
      if (key != nullptr) live.api_key = key;
      if (live.api_key.empty()) {
        const std::string state = key == nullptr ? "is not set" : "is empty";
        live.missing_key = "spendgate has no provider key for " + provider.name +
                           ": the environment variable " + provider.api_key_env + " " + state;
        // Only a virtual-key call needs the provider key: with no virtual keys configured (the
        // built-in defaults) every caller brings its own, and a warning would only be noise.
        if (!config.identity.virtual_keys.empty()) {
          runtime->warnings.push_back("provider " + provider.name + ": api_key_env " +
                                      provider.api_key_env + " " + state +
                                      "; calls with a virtual key to it are answered 500");
        }
      }
    }
    for (const auto& route : provider.routes) runtime->routes.add(route, i, provider.format);
    runtime->providers.push_back(std::move(live));
  }
  // google-genai's files.upload posts to /upload/v1beta/files: a gemini provider whose own routes
  // leave it out gets 404s there (the built-in defaults have it; SPEC's example routes do not).
  for (std::size_t i = 0; i < runtime->providers.size(); ++i) {
    const auto& provider = runtime->providers[i].config;
    if (provider.format != core::ProviderFormat::Gemini) continue;
    const auto upload = runtime->routes.match(kGeminiUploadPath);
    if (upload && *upload == i) continue;
    runtime->warnings.push_back("provider " + provider.name + ": no route of it takes " +
                                std::string(kGeminiUploadPath) +
                                " (google-genai's files.upload): add \"/upload/v1beta/\" to its "
                                "routes, or uploads get 404");
  }
  // serve reads the token here too (ProxyServer::bind): check must refuse what serve would.
  const auto& admin = config.admin;
  if (!config::isLoopbackHost(admin.listen.host) && !admin.token_env.empty()) {
    const char* token = std::getenv(admin.token_env.c_str());
    if (token == nullptr || *token == '\0') {
      errors.push_back((admin.listen_at.empty() ? "admin.listen" : admin.listen_at) + ": " +
                       admin.listen.toString() + " is not a loopback address and $" +
                       admin.token_env + (token == nullptr ? " is not set" : " is empty") +
                       ": set the admin token there or listen on 127.0.0.1");
    }
  }
  for (std::size_t i = 0; i < config.alerts.sinks.size(); ++i) {
    const auto& sink = config.alerts.sinks[i];
    if (sink.url_env.empty()) continue;
    const char* url = std::getenv(sink.url_env.c_str());
    if (url != nullptr && *url != '\0') continue;
    runtime->warnings.push_back("alerts.sinks[" + std::to_string(i) + "]: url_env " + sink.url_env +
                                (url == nullptr ? " is not set" : " is empty") +
                                "; alerts to it will fail");
  }
  auto pricer = config::buildPricer(config.pricing);
  for (auto& error : pricer.errors) errors.push_back(std::move(error));
  runtime->pricer = std::move(pricer.pricer);

  std::vector<core::IdentityResolver::VirtualKey> keys;
  for (const auto& key : config.identity.virtual_keys) {
    keys.push_back({key.id, key.key_sha256, key.user, key.team, key.customer, key.agent});
  }
  runtime->identity = std::make_shared<core::IdentityResolver>(
      std::move(keys), config.identity.passthrough, config.identity.trust_headers);
  runtime->rules = config::toEnforcementRules(config);
  runtime->config = std::move(config);
  if (!errors.empty()) return nullptr;
  return runtime;
}

std::shared_ptr<const Runtime> Runtime::load(const std::string& path,
                                             std::vector<std::string>& errors) {
  auto loaded = config::loadConfigFile(path);
  if (!loaded.errors.empty() || !loaded.config) {
    for (auto& error : loaded.errors) errors.push_back(std::move(error));
    return nullptr;
  }
  return build(std::move(*loaded.config), errors);
}

}  // namespace spendgate::proxy
