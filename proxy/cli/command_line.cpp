#include "proxy/cli/command_line.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "config/config_loader.hpp"
#include "config/price_catalog_loader.hpp"
#include "core/identity/virtual_key_format.hpp"
#include "core/memory/buffer_allowance.hpp"
#include "core/pricing/price_catalog.hpp"
#include "core/pricing/served_model_memory.hpp"
#include "core/stats/spend_stats.hpp"
#include "core/store/memory_counter_store.hpp"
#include "proxy/alerts/alert_dispatcher.hpp"
#include "proxy/cli/admin_client.hpp"
#include "proxy/cli/cli_options.hpp"
#include "proxy/cli/report_commands.hpp"
#include "proxy/enforcement/enforcer.hpp"
#include "proxy/identity/caller_key.hpp"
#include "proxy/ledger/ledger_replayer.hpp"
#include "proxy/ledger/ledger_writer.hpp"
#include "proxy/logging/logger.hpp"
#include "proxy/server/proxy_server.hpp"
#include "proxy/server/runtime.hpp"
#include "proxy/stats/redis_spend_recorder.hpp"
#include "proxy/store/counter_store_factory.hpp"
#include "proxy/store/emergency_stop_file.hpp"
#include "proxy/store/leasing_counter_store.hpp"
#include "proxy/store/redis_counter_store.hpp"

namespace spendgate::proxy {

namespace {

/** How long a stopping `serve` waits for costs that still have to reach Redis (fail_open). */
constexpr std::chrono::milliseconds kShutdownReplayWait{2000};

/** `serve` accepts after the store's first connection attempt, or its connect timeout + this. */
constexpr std::chrono::milliseconds kStartGateSlack{500};

constexpr const char* kUsage =
    "usage: spendgate <command> [options]\n"
    "  serve [-c FILE]     run the proxy (default config: ./spendgate.yaml, else built-in)\n"
    "  check -c FILE       validate a config file\n"
    "  estop on [--reason TEXT] [--for DURATION] | off | status   [--admin URL] [--json]\n"
    "                      emergency stop through the admin API\n"
    "                      (token from $SPENDGATE_ADMIN_TOKEN)\n"
    "  spend [--by model|provider|key|user|team|customer|agent] [--period day|week|month|hour]\n"
    "        [--admin URL] [--json]\n"
    "                      spend of the current period by one dimension (admin API)\n"
    "  budgets [--admin URL] [--json]\n"
    "                      each budget: spent, reserved, limit, % used, resets at\n"
    "  key new [--id ID] [--json]\n"
    "                      print a new virtual key and its key_sha256 config line\n"
    "  version             print version information\n"
    "Options are exact: an unknown option or one without its value is an error (exit 1).\n";

// Every command takes -h/--help.
constexpr CliOptions::Option kHelp{"--help", false, "-h"};
constexpr CliOptions::Option kConfig{"--config", true, "-c"};
constexpr CliOptions::Option kAdmin{"--admin", true};
constexpr CliOptions::Option kJson{"--json"};

/** "127.0.0.1", or "[::1]" for IPv6, as in a URL. */
std::string urlHost(const net::ip::address& address) {
  return address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
}

std::string hostPort(const tcp::endpoint& endpoint) {
  return urlHost(endpoint.address()) + ":" + std::to_string(endpoint.port());
}

/** " (all interfaces)" after a wildcard address, else nothing. */
std::string_view allInterfacesNote(const tcp::endpoint& endpoint) {
  return endpoint.address().is_unspecified() ? " (all interfaces)" : "";
}

/**
 * Where a client on this machine connects to `endpoint`: a wildcard address (0.0.0.0, [::]) is
 * where the proxy listens, not an address to connect to, so it becomes loopback of its family.
 */
tcp::endpoint connectable(const tcp::endpoint& endpoint) {
  if (!endpoint.address().is_unspecified()) return endpoint;
  const auto loopback = endpoint.address().is_v6()
                            ? net::ip::address(net::ip::address_v6::loopback())
                            : net::ip::address(net::ip::address_v4::loopback());
  return {loopback, endpoint.port()};
}

void printWhereToPoint(const Runtime& runtime,
                       const tcp::endpoint& proxy,
                       const tcp::endpoint& admin) {
  std::cout << "spendgate " << SPENDGATE_VERSION << " listening on http://" << hostPort(proxy)
            << allInterfacesNote(proxy) << "\n";
  std::cout << "admin API on http://" << hostPort(admin) << allInterfacesNote(admin) << "\n";
  const std::string base = "http://" + hostPort(connectable(proxy));
  if (proxy.address().is_unspecified()) {
    std::cout << "point your clients here (from other machines, use this machine's name or "
                 "address instead of "
              << urlHost(connectable(proxy).address()) << "):\n";
  } else {
    std::cout << "point your clients here:\n";
  }
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
  if (command == "estop") return estop();
  // Both parse their own options strictly (report_commands.cpp); a --admin there wins.
  if (command == "spend") {
    return runSpendCommand({args_.begin() + 1, args_.end()}, adminUrl(std::nullopt));
  }
  if (command == "budgets") {
    return runBudgetsCommand({args_.begin() + 1, args_.end()}, adminUrl(std::nullopt));
  }
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

std::optional<CliOptions> CommandLine::options(std::size_t words,
                                               std::initializer_list<CliOptions::Option> known) {
  std::string error;
  const std::vector<std::string> rest(args_.begin() + static_cast<std::ptrdiff_t>(words),
                                      args_.end());
  auto parsed = CliOptions::parse(rest, known, error);
  if (!parsed) {
    std::string command;
    for (std::size_t i = 0; i < words; ++i) command += (i == 0 ? "" : " ") + args_[i];
    usage(command + ": " + error);
  }
  return parsed;
}

std::string CommandLine::adminUrl(const std::optional<std::string>& flag) {
  std::string url = flag.value_or("");
  if (url.empty()) {
    if (const char* env = std::getenv("SPENDGATE_ADMIN_URL")) url = env;
  }
  if (url.empty()) url = "http://127.0.0.1:8081";
  while (url.ends_with('/')) url.pop_back();
  return url;
}

namespace {

void printEmergencyStop(const boost::json::value& state) {
  const auto& object = state.as_object();
  const bool active = object.at("active").as_bool();
  std::cout << "emergency stop: " << (active ? "ON" : "off");
  if (auto* source = object.if_contains("source"); source && source->is_string() && active) {
    std::cout << " (" << source->as_string().c_str() << ")";
  }
  std::cout << "\n";
  if (auto* reason = object.if_contains("reason");
      reason && reason->is_string() && !reason->as_string().empty()) {
    std::cout << "  reason: " << reason->as_string().c_str() << "\n";
  }
  if (auto* since = object.if_contains("since"); since && since->is_string()) {
    std::cout << "  since:  " << since->as_string().c_str() << "\n";
  }
  if (auto* until = object.if_contains("until"); until && until->is_string()) {
    std::cout << "  until:  " << until->as_string().c_str() << "\n";
  } else if (active) {
    std::cout << "  until:  turned off by hand\n";
  }
  if (auto* warning = object.if_contains("warning"); warning && warning->is_string()) {
    std::cerr << "warning: " << warning->as_string().c_str() << "\n";
  }
}

}  // namespace

int CommandLine::estop() {
  if (args_.size() < 2) return usage("estop needs on, off or status");
  const std::string& action = args_[1];
  if (action != "on" && action != "off" && action != "status") {
    return usage("estop needs on, off or status, not '" + action + "'");
  }
  // Only `on` takes a reason and a duration: a stray --for on `off` is a mistake, not a no-op.
  const auto parsed = action == "on"
                          ? options(2, {{"--reason", true}, {"--for", true}, kAdmin, kJson, kHelp})
                          : options(2, {kAdmin, kJson, kHelp});
  if (!parsed) return 1;
  if (parsed->has("--help")) {
    std::cout << kUsage;
    return 0;
  }
  if (parsed->value("--admin") == "") return usage("estop: --admin needs a URL");
  if (parsed->value("--for") == "") return usage("estop on: --for needs a duration such as 1h");
  AdminClient client(adminUrl(parsed->value("--admin")), AdminClient::tokenFromEnvironment());
  std::string method = "GET";
  std::string body;
  if (action == "on" || action == "off") {
    boost::json::object request{{"active", action == "on"}};
    if (auto reason = parsed->value("--reason"); reason && !reason->empty()) {
      request["reason"] = *reason;
    }
    if (auto duration = parsed->value("--for")) request["for"] = *duration;
    method = "POST";
    body = boost::json::serialize(request);
  }
  boost::json::value state;
  std::string raw;
  const int code = client.callJson(method, "/admin/emergency-stop", body, state, raw, std::cerr);
  if (code >= 0) return code;
  // Anything but an object with a boolean `active` is not the admin API's answer (another
  // service on that port, a proxy in between): exit 2, never an uncaught exception.
  if (const auto* object = state.if_object();
      !object || !object->contains("active") || !object->at("active").is_bool()) {
    std::cerr << "spendgate: unexpected admin API answer (the emergency stop lacks a boolean "
                 "active): "
              << raw << "\n";
    return 2;
  }
  if (parsed->has("--json")) {
    std::cout << raw << "\n";
  } else {
    printEmergencyStop(state);
  }
  return 0;
}

namespace {

/**
 * @return `id` as a YAML scalar for a flow mapping: plain when it is a simple name, else
 * double-quoted. A JSON string is a valid YAML double-quoted scalar, escapes included.
 */
std::string yamlScalar(const std::string& id) {
  const bool plain =
      !id.empty() && (std::isalnum(static_cast<unsigned char>(id.front())) || id.front() == '_') &&
      std::all_of(id.begin(), id.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
      });
  std::string lower = id;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // yaml-cpp reads a plain null as no value at all.
  if (plain && lower != "null") return id;
  return boost::json::serialize(boost::json::string(id));
}

}  // namespace

int CommandLine::keyNew() {
  const auto parsed = options(2, {{"--id", true}, kJson, kHelp});
  if (!parsed) return 1;
  if (parsed->has("--help")) {
    std::cout << kUsage;
    return 0;
  }
  // The config loader's one rule for a virtual key id: not empty (and unique, in the file).
  if (parsed->value("--id") == "") return usage("key new: --id must not be empty");
  if (auto id = parsed->value("--id")) {
    if (auto reserved = config::reservedVirtualKeyId(*id)) return usage("key new: " + *reserved);
  }
  unsigned char random[core::kVirtualKeyRandomLength];
  if (RAND_bytes(random, sizeof random) != 1) {
    std::cerr << "spendgate: cannot get random bytes for a key\n";
    return 1;
  }
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  // 32 characters from 62: about 190 bits, far past guessing; the modulo bias is immaterial.
  std::string key(core::kVirtualKeyPrefix);
  for (unsigned char byte : random) key += kAlphabet[byte % 62];
  const std::string hash = sha256Hex(key);
  const std::string id = parsed->value("--id").value_or("key-" + hash.substr(0, 8));
  if (parsed->has("--json")) {
    std::cout << boost::json::serialize(
                     boost::json::object{{"id", id}, {"key", key}, {"key_sha256", hash}})
              << "\n";
    return 0;
  }
  std::cout << "key:        " << key << "\n"
            << "key_sha256: " << hash << "\n\n"
            << "Give the key to the caller; it is not stored anywhere. Add this under\n"
            << "identity.virtual_keys in your config:\n"
            << "  - { id: " << yamlScalar(id) << ", key_sha256: \"" << hash << "\" }\n";
  return 0;
}

int CommandLine::check() {
  const auto parsed = options(1, {kConfig, kHelp});
  if (!parsed) return 1;
  if (parsed->has("--help")) {
    std::cout << kUsage;
    return 0;
  }
  const std::string path = parsed->value("--config").value_or("");
  if (path.empty()) return usage("check needs -c FILE");
  // What serve and reload run, catalog and ca_file loading included: check passes what they do.
  std::vector<std::string> errors;
  const auto runtime = Runtime::load(path, errors);
  for (const auto& error : errors) std::cerr << error << "\n";
  if (!runtime) return 1;
  // serve opens (or creates) the ledger before it listens and exits when it cannot. A warning, as
  // an unset key variable is: a config is often checked away from the machine it will run on.
  const auto& ledger = runtime->config.ledger;
  if (auto problem = LedgerWriter::openProblem(ledger.path)) {
    // FILE:LINE:COL: warning: ledger.path: ... (path_at is "FILE:LINE:COL: ledger.path").
    std::string_view where = ledger.path_at;
    constexpr std::string_view kKey = ": ledger.path";
    if (where.ends_with(kKey)) where.remove_suffix(kKey.size());
    std::cerr << (where.empty() ? std::string_view(path) : where)
              << ": warning: ledger.path: serve could not open ledger '" << ledger.path
              << "' here: " << *problem << "\n";
  }
  // What serve would log as warnings (a provider key variable unset): worth knowing, not errors.
  for (const auto& warning : runtime->warnings)
    std::cerr << path << ": warning: " << warning << "\n";
  std::cout << path << ": ok\n";
  return 0;
}

int CommandLine::version() {
  const auto parsed = options(1, {kHelp});
  if (!parsed) return 1;
  if (parsed->has("--help")) {
    std::cout << kUsage;
    return 0;
  }
  const auto& catalog = config::builtinPriceCatalog();
  std::cout << "spendgate " << SPENDGATE_VERSION << " (commit " << SPENDGATE_COMMIT << ", "
            << SPENDGATE_BUILD_TYPE << " build, " << __DATE__ << ")\n"
            << "price catalog " << catalog.version() << " (" << catalog.date() << ", "
            << catalog.size() << " models)\n";
  return 0;
}

namespace {

/**
 * Why serve stops, said once: on the log (stderr, in the configured format) when it shows errors,
 * else plainly on stderr, so that `logging.level: off` still says why the process exits 1.
 */
void reportFatal(Logger& logger, const std::string& message) {
  if (logger.showsErrors()) {
    logger.error(message);
    logger.flush();
  } else {
    std::cerr << "spendgate: " << message << "\n";
  }
}

}  // namespace

int CommandLine::serve() {
  const auto parsed = options(1, {kConfig, kHelp});
  if (!parsed) return 1;
  if (parsed->has("--help")) {
    std::cout << kUsage;
    return 0;
  }
  std::string path = parsed->value("--config").value_or("");
  if (parsed->has("--config") && path.empty()) return usage("serve: -c needs a FILE");
  if (path.empty() && std::filesystem::exists("spendgate.yaml")) path = "spendgate.yaml";

  std::vector<std::string> errors;
  auto runtime =
      path.empty() ? Runtime::build(config::defaultConfig(), errors) : Runtime::load(path, errors);
  // Loader errors and the ones found building (catalog, ca_file) both name their FILE:LINE:COL.
  for (const auto& error : errors) std::cerr << error << "\n";
  if (!runtime) return 1;

  Logger logger(runtime->config.logging);
  logger.info(path.empty() ? "no config file: using built-in defaults"
                           : "configuration from " + path);
  for (const auto& warning : runtime->warnings) logger.warn(warning);
  // Memory store: the emergency stop as the last process left it (docs/enforcement.md, "Across
  // restarts"). A file that cannot be understood stops the start: starting with the stop off
  // could be exactly the incident an operator turned it on for.
  const bool memory_store = runtime->config.store.kind == config::StoreConfig::Kind::Memory;
  const std::string estop_path = emergencyStopFilePath(runtime->config.ledger.path);
  EmergencyStopFileLoad kept_stop;
  if (memory_store) {
    kept_stop = loadEmergencyStopFile(estop_path);
    if (!kept_stop.error.empty()) {
      reportFatal(logger, kept_stop.error);
      reportFatal(logger,
                  "not starting: the emergency stop kept there is unknown. Fix the file, or "
                  "delete it to start with the stop off (docs/enforcement.md).");
      return 1;
    }
  }
  try {
    LedgerWriter ledger(runtime->config.ledger.path, logger);
    Enforcer enforcer(nullptr, runtime->config.store.redis.on_unavailable, logger);
    // Alerts go out once across instances: the first to claim an alert's id in Redis sends it.
    std::shared_ptr<RedisCounterStore> redis;
    AlertDispatchOptions alert_options;
    // With the memory store this process makes every charge, so spend is never spread back.
    alert_options.engine.every_charge_observed =
        runtime->config.store.kind == config::StoreConfig::Kind::Memory;
    AlertDispatcher alerts(
        runtime->config.alerts, runtime->rules, logger,
        [&redis](const std::string& id, AlertDispatcher::ClaimCallback done) {
          if (!redis) return done(true);
          redis->claimOnce("alert:" + id, kAlertClaimTtl, std::move(done));
        },
        alert_options);
    enforcer.setObserver(
        {[&alerts](const auto& budgets, auto now) { alerts.onSettled(budgets, now); },
         [&alerts](const auto& before, const auto& after, auto now) {
           alerts.onEmergencyStopChanged(before, after, now);
         }});
    // Spend reports come from Redis when instances share it, else from this process.
    std::unique_ptr<core::SpendRecorder> spend;
    if (runtime->config.store.kind == config::StoreConfig::Kind::Redis) {
      RedisSpendRecorder::Options options;
      options.redis.url = runtime->config.store.redis.url;
      spend = std::make_unique<RedisSpendRecorder>(options);
    } else {
      spend = std::make_unique<core::SpendStats>();
    }
    core::BufferAllowance buffers(runtime->config.server.max_buffered_bytes);
    core::ServedModelMemory served_models;
    ProxyServer server(
        runtime, Services{logger, ledger, enforcer, alerts, *spend, buffers, served_models}, path);
    auto store = makeCounterStore(runtime->config.store, server.eventLoops(), logger);
    redis = redisStoreOf(store);
    auto leasing = std::dynamic_pointer_cast<LeasingCounterStore>(store);
    enforcer.setStore(store);
    std::shared_ptr<EmergencyStopFile> stop_file;
    if (auto memory = std::dynamic_pointer_cast<core::MemoryCounterStore>(store)) {
      const auto now = std::chrono::system_clock::now();
      // Every change of the stop goes to its file from here on; the file holds the loaded state.
      stop_file = std::make_shared<EmergencyStopFile>(estop_path, *memory, logger, kept_stop.state);
      memory->setEmergencyStopListener([stop_file] { stop_file->save(); });
      enforcer.setEmergencyStopWarning([stop_file] { return stop_file->lastError(); });
      // The stop first, so the replay's automatic trigger sees it (and its suppression). A
      // timed stop that ran out while no process was running comes back off (and is written).
      if (kept_stop.state) {
        const auto restored = core::expireEmergencyStop(*kept_stop.state, now);
        memory->setEmergencyStop(restored, [](auto) {});
        enforcer.restoreEmergencyStop(restored);
        logger.info("emergency stop from " + estop_path + ": " +
                    (restored.active
                         ? "on (" + std::string(core::emergencyStopSourceName(restored.source)) +
                               ", reason \"" + restored.reason + "\")"
                         : std::string("off")));
      }
      // Memory store only: its counters died with the last process, the ledger did not. (Redis
      // keeps its counters; replaying into it would count everything twice.)
      LedgerReplayer replayer(*memory, *spend, logger, [&alerts](const auto& budgets, auto at) {
        alerts.primeSettled(budgets, at);
      });
      replayer.replay(runtime->config.ledger.path, runtime->rules, now);
      enforcer.checkAutoStop(runtime, now);
    }
    server.onDrained([&enforcer, &server, &redis, &leasing] {
      // Costs still waiting for Redis (fail_open's local requests, failed settles) go first,
      // then, with leases, the slices are handed back with the local spend; then the clients stop.
      enforcer.finishReplays(*server.eventLoops().front(), kShutdownReplayWait,
                             [&redis, &leasing](Enforcer::Unsent) {
                               if (leasing) {
                                 leasing->stop();
                               } else if (redis) {
                                 redis->stop();
                               }
                             });
    });
    if (redis) {
      // The connections start with the loops: without this wait the first requests met a store
      // still connecting, and fail_closed answered 503 although Redis was up (audit 16 L1).
      const bool fail_open = runtime->config.store.redis.on_unavailable ==
                             config::RedisConfig::OnUnavailable::FailOpen;
      const auto max_wait = redis->connectTimeout() + kStartGateSlack;
      server.setStartGate(
          {[weak = std::weak_ptr(redis)] {
             auto store = weak.lock();
             return !store || store->firstAttemptsDone();
           },
           max_wait,
           [weak = std::weak_ptr(redis), &logger, fail_open, max_wait](bool in_time) {
             auto store = weak.lock();
             if (!store || store->up()) return;
             logger.warn(
                 std::string("redis store: not connected ") +
                 (in_time ? "at start-up" : "after " + std::to_string(max_wait.count()) + " ms") +
                 "; serving anyway: " +
                 (fail_open ? "requests are admitted on this instance's own counters "
                              "(on_unavailable: fail_open)"
                            : "requests are refused with 503 store_unavailable "
                              "(on_unavailable: fail_closed)") +
                 " until it connects");
           }});
    }
    server.bind();
    printWhereToPoint(*runtime, server.proxyEndpoint(), server.adminEndpoint());
    server.run();
    // The alert thread's claims read `redis`: stop it before `redis` goes.
    alerts.stop();
    // The Redis clients hold the workers' event loops: let go of them first.
    enforcer.setStore(nullptr);
    leasing.reset();
    store.reset();
    redis.reset();
    ledger.flush();
  } catch (const std::exception& e) {
    reportFatal(logger, e.what());
    return 1;
  }
  return 0;
}

}  // namespace spendgate::proxy
