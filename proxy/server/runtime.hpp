#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/enforcement/rules.hpp"
#include "core/identity/identity_resolver.hpp"
#include "core/routing/route_table.hpp"

namespace boost::asio::ssl {
class context;
}

namespace spendgate::core {
class Pricer;
}

namespace spendgate::proxy {

/** A configured provider with what the proxy needs at request time already built. */
struct ProviderRuntime {
  config::ProviderConfig config;
  std::string host_header;  // "host" or "host:port" when the port is not the scheme's default
  std::string pool_key;     // upstream connections are shared by providers with the same key
  std::shared_ptr<boost::asio::ssl::context> tls;  // null for http:// upstreams
  std::string api_key;  // from api_key_env, injected for virtual-key callers; never logged
  /**
   * Set when api_key_env names a variable that is unset or empty: the answer (500) to a
   * virtual-key call, which is then not forwarded keyless. Names the variable, never a value.
   */
  std::string missing_key;
};

/**
 * An immutable snapshot of everything a request reads: config, routes and providers.
 * Requests hold a shared_ptr to the snapshot they started with, so a reload never changes
 * the rules under a request in flight.
 */
struct Runtime {
  config::Config config;
  std::vector<ProviderRuntime> providers;
  core::RouteTable routes;
  std::shared_ptr<const core::Pricer> pricer;
  std::shared_ptr<const core::IdentityResolver> identity;
  core::Rules rules;
  /** Problems that do not stop the snapshot (a provider key variable unset); logged as warnings. */
  std::vector<std::string> warnings;

  /**
   * Builds a snapshot; TLS trust stores are loaded here.
   * @param errors receives one line per problem (e.g. an unreadable ca_file)
   * @return the snapshot, or null when errors is not empty
   */
  static std::shared_ptr<const Runtime> build(config::Config config,
                                              std::vector<std::string>& errors);

  /**
   * Loads the config file and builds its snapshot: every check a config passes before it is
   * served, shared by `serve`, `check`, SIGHUP and POST /admin/reload.
   * @param errors receives the loader's "FILE:LINE:COL: message" lines, then build()'s
   * @return the snapshot, or null when errors is not empty
   */
  static std::shared_ptr<const Runtime> load(const std::string& path,
                                             std::vector<std::string>& errors);
};

using RuntimePtr = std::shared_ptr<const Runtime>;

}  // namespace spendgate::proxy
