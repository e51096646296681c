#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/duration.hpp"
#include "config/listen_address.hpp"
#include "config/upstream_url.hpp"
#include "core/provider/provider_format.hpp"

// The validated configuration as plain values (SPEC.md §2). Defaults live in the member
// initialisers; config_loader.hpp fills these from YAML. No yaml-cpp here: the proxy includes it.
namespace spendgate::config {

/** `scope:` of a budget or rate limit: whose counter a request charges. */
enum class Scope { Global, Provider, Model, Key, User, Team, Customer, Agent };

/** Calendar period (UTC) of a budget or of the emergency-stop auto trigger. */
enum class Period { Minute, Hour, Day, Week, Month, Total };

/** Alert severity, lowest first. */
enum class AlertLevel { Info, Warning, Critical, Exceeded };

struct ServerConfig {
  ListenAddress listen{"127.0.0.1", 8080};
  int threads = 1;  // YAML 0 = one per core, resolved by the loader (min 1)
  uint64_t max_body_bytes = 10485760;
  uint64_t max_header_bytes = 65536;  // extension: request line + headers limit (431)
  Millis idle_timeout{75000};
  Millis first_byte_timeout{120000};
  Millis request_timeout{600000};
  Millis shutdown_grace{30000};  // extension: how long SIGTERM lets in-flight requests finish
  // extension: what all requests together may hold in large buffers beyond 1 MiB each
  uint64_t max_buffered_bytes = 268435456;
};

struct AdminConfig {
  ListenAddress listen{"127.0.0.1", 8081};
  std::string token_env = "SPENDGATE_ADMIN_TOKEN";  // "" only allowed on a loopback listen
  std::string listen_at;  // "FILE:LINE:COL: admin.listen" of the value, "" when not in a file
};

struct ProviderConfig {
  std::string name;
  core::ProviderFormat format = core::ProviderFormat::OpenAI;
  std::string base_url;
  UpstreamUrl upstream;                            // base_url, parsed
  std::vector<std::string> routes;                 // path prefixes, each starting with '/'
  std::string api_key_env;                         // "" = this provider never gets a key injected
  std::string ca_file;                             // "" = system trust store only
  std::map<std::string, std::string> deployments;  // extension (azure): deployment -> model
  /** "FILE:LINE:COL: providers.NAME.ca_file" of the value: loading it (Runtime) reports there. */
  std::string ca_file_at;
};

struct VirtualKeyConfig {
  std::string id;
  std::string key_sha256;  // 64 lower-case hex chars
  std::string team;
  std::string user;
  std::string customer;
  std::string agent;
};

struct IdentityConfig {
  std::vector<VirtualKeyConfig> virtual_keys;
  bool passthrough = true;
  bool trust_headers = true;
};

/** USD per 1M tokens. */
struct ModelPriceConfig {
  double input = 0;
  double cached_input = 0;  // YAML default: same as input
  double output = 0;
  std::optional<double> cache_write_5m;
  std::optional<double> cache_write_1h;
  std::optional<double> input_audio;   // unset: audio input at the input rate
  std::optional<double> output_audio;  // unset: audio output at the output rate
  uint64_t max_output_tokens = 0;      // 0 = not set
};

struct PricingConfig {
  enum class UnknownModel { Reject, Allow, Price };
  std::string catalog = "builtin";  // "builtin" or a path to a catalog YAML
  UnknownModel unknown_model = UnknownModel::Reject;
  double unknown_input = 0;   // USD per 1M tokens, with UnknownModel::Price
  double unknown_output = 0;  // USD per 1M tokens, with UnknownModel::Price
  std::map<std::string, ModelPriceConfig> models;
};

struct RedisConfig {
  enum class OnUnavailable { FailClosed, FailOpen };
  std::string url = "redis://127.0.0.1:6379/0";
  OnUnavailable on_unavailable = OnUnavailable::FailClosed;
  /** Not in SPEC: lease budget and rate-limit slices to this instance (docs/store.md). */
  bool leases = true;
};

struct StoreConfig {
  enum class Kind { Memory, Redis };
  Kind kind = Kind::Memory;
  RedisConfig redis;
};

struct LedgerConfig {
  std::string path = "spendgate-ledger.jsonl";
  std::string path_at;  // FILE:LINE:COL of ledger.path; empty when the default applies
};

struct BudgetConfig {
  enum class Mode { Hard, Soft };
  std::string name;
  Scope scope = Scope::Global;
  std::map<std::string, std::string> match;  // dimension name (see dimensionNames) -> glob
  Period period = Period::Day;
  double limit_usd = 0;
  Mode mode = Mode::Hard;
  std::vector<double> alert_at{0.5, 0.8, 0.95, 1.0};  // sorted, each in (0, 10]
};

struct RateLimitConfig {
  std::string name;
  Scope scope = Scope::Global;
  std::map<std::string, std::string> match;
  uint64_t requests_per_minute = 0;  // 0 = not limited
  uint64_t tokens_per_minute = 0;    // input + output tokens; 0 = not limited
  uint64_t concurrent = 0;           // in flight; 0 = not limited
};

struct RequestLimitsConfig {
  std::optional<double> max_cost_usd;
};

struct EmergencyStopConfig {
  struct Auto {
    double spend_usd = 0;
    Period period = Period::Day;
    Millis hold{3600000};  // 0 = stays on until turned off by hand
  };
  std::optional<Auto> auto_stop;  // YAML key `auto`
};

struct AlertSinkConfig {
  enum class Type { Slack, Webhook, Email };
  Type type = Type::Webhook;
  std::string url;  // slack, webhook: exactly one of url / url_env
  std::string url_env;
  std::string smtp_url;         // email
  std::string from;             // email
  std::vector<std::string> to;  // email
  AlertLevel min_level = AlertLevel::Info;
};

struct AlertsConfig {
  Millis cooldown{3600000};
  std::vector<AlertSinkConfig> sinks;
};

struct LoggingConfig {
  enum class Format { Text, Json };
  Format format = Format::Text;
  std::string level = "info";  // trace | debug | info | warn | error | off
};

struct Config {
  ServerConfig server;
  AdminConfig admin;
  std::vector<ProviderConfig> providers;  // YAML order
  IdentityConfig identity;
  PricingConfig pricing;
  StoreConfig store;
  LedgerConfig ledger;
  std::vector<BudgetConfig> budgets;
  std::vector<RateLimitConfig> rate_limits;
  RequestLimitsConfig request_limits;
  EmergencyStopConfig emergency_stop;
  AlertsConfig alerts;
  LoggingConfig logging;
  std::string source;  // file it came from; "" for built-in defaults
};

/** @return SPEC §1 defaults: providers openai, anthropic, gemini at their public hosts. */
Config defaultConfig();

/**
 * @return the provider `name` with every key at its default for `format` (base_url, upstream,
 * routes, api_key_env). Azure has no default base_url.
 */
ProviderConfig defaultProvider(std::string name, core::ProviderFormat format);

// YAML spellings, for the admin API, metrics and messages.
std::string_view scopeName(Scope scope);
std::string_view periodName(Period period);
std::string_view alertLevelName(AlertLevel level);
std::string_view budgetModeName(BudgetConfig::Mode mode);

/** @return the `match:` keys: provider, model, key, user, team, customer, agent. */
const std::vector<std::string_view>& dimensionNames();

}  // namespace spendgate::config
