#include "config/config_loader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <thread>

#include "config/env_name.hpp"
#include "config/redis_url.hpp"
#include "config/yaml_reader.hpp"
#include "core/enforcement/glob.hpp"
#include "core/http/url_port.hpp"

namespace spendgate::config {

namespace {

constexpr int kMaxThreads = 1024;
// server.max_header_bytes: see parseServer.
constexpr int64_t kMaxHeaderBytes = 65536;
constexpr int64_t kMaxInt = std::numeric_limits<int64_t>::max();

/** @return why `path` cannot be read as a file, or nullopt when it can. */
std::optional<std::string> unreadableReason(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::string(std::strerror(errno));
  struct stat info {};
  std::optional<std::string> reason;
  if (::fstat(fd, &info) == 0 && S_ISDIR(info.st_mode)) reason = std::strerror(EISDIR);
  ::close(fd);
  return reason;
}

bool isLowerHex64(std::string_view text) {
  return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string toLower(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return text;
}

bool isNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.';
}

/** @return why `text` is not an absolute URL with a host and one of `schemes`. */
std::optional<std::string> badUrlReason(std::string_view text,
                                        std::initializer_list<std::string_view> schemes) {
  auto parsed = boost::urls::parse_uri(text);
  std::string allowed;
  for (std::string_view scheme : schemes) {
    if (!allowed.empty()) allowed += ", ";
    allowed += std::string(scheme) + "://";
  }
  // These URLs may carry a credential (a webhook's token, a password in redis:// or smtp://), and
  // the message reaches check's stderr, the log and the reload answer: it never repeats the URL.
  if (!parsed) return "not an absolute URL (" + allowed + ")";
  const std::string scheme = toLower(std::string(parsed->scheme()));
  if (std::find(schemes.begin(), schemes.end(), scheme) == schemes.end()) {
    return "the URL must start with one of " + allowed;
  }
  if (!parsed->has_authority() || parsed->encoded_host().empty()) return "the URL has no host";
  if (parsed->has_port() && !core::urlPort(parsed->port())) {
    return "the URL has an invalid port '" + std::string(parsed->port()) + "' (1-65535)";
  }
  return std::nullopt;
}

/** Fills a Config from the YAML tree; every problem goes to the reader. */
class ConfigParser {
public:
  ConfigParser(YamlReader& reader, Config& config) : r_(reader), c_(config) {
    for (const ProviderConfig& provider : config.providers) {
      provider_names_.push_back(provider.name);
    }
  }

  void parse(const YAML::Node& root) {
    const YamlValue top{root, root.Mark(), ""};
    if (!root.IsMap()) {
      r_.error(top, "the top level must be a mapping (server:, providers:, budgets:, ...)");
      return;
    }
    auto m = r_.map(
        top, {"server", "admin", "providers", "identity", "pricing", "store", "ledger", "budgets",
              "rate_limits", "request_limits", "emergency_stop", "alerts", "logging"});
    if (!m) return;
    if (auto* v = m->find("server")) parseServer(*v);
    if (auto* v = m->find("admin")) parseAdmin(*v);
    if (auto* v = m->find("providers")) parseProviders(*v);
    if (auto* v = m->find("identity")) parseIdentity(*v);
    if (auto* v = m->find("pricing")) parsePricing(*v);
    if (auto* v = m->find("store")) parseStore(*v);
    if (auto* v = m->find("ledger")) parseLedger(*v);
    if (auto* v = m->find("budgets")) parseBudgets(*v);
    if (auto* v = m->find("rate_limits")) parseRateLimits(*v);
    if (auto* v = m->find("request_limits")) parseRequestLimits(*v);
    if (auto* v = m->find("emergency_stop")) parseEmergencyStop(*v);
    if (auto* v = m->find("alerts")) parseAlerts(*v);
    if (auto* v = m->find("logging")) parseLogging(*v);
    checkListeners();
    checkMatchSubjects();
  }

private:
  // ---- small typed setters: leave `out` unchanged when the key is absent or invalid ----

  void readString(const YamlMap& m, std::string_view key, std::string& out) {
    if (auto* v = m.find(key)) {
      if (auto text = r_.string(*v)) out = std::move(*text);
    }
  }

  void readNonEmptyString(const YamlMap& m, std::string_view key, std::string& out) {
    if (auto* v = m.find(key)) {
      if (auto text = r_.string(*v)) {
        if (text->empty()) {
          r_.error(*v, "must not be empty");
        } else {
          out = std::move(*text);
        }
      }
    }
  }

  void readBool(const YamlMap& m, std::string_view key, bool& out) {
    if (auto* v = m.find(key)) {
      if (auto flag = r_.boolean(*v)) out = *flag;
    }
  }

  void readDuration(const YamlMap& m, std::string_view key, Millis& out, bool allow_zero) {
    if (auto* v = m.find(key)) {
      if (auto d = r_.duration(*v)) {
        if (!allow_zero && d->count() == 0) {
          r_.error(*v, "must be longer than 0s");
        } else {
          out = *d;
        }
      }
    }
  }

  template <class Int>
  void readCount(const YamlMap& m, std::string_view key, Int& out, int64_t min) {
    if (auto* v = m.find(key)) {
      const int64_t max = std::min<uint64_t>(std::numeric_limits<Int>::max(), kMaxInt);
      if (auto n = r_.integer(*v, min, max)) out = static_cast<Int>(*n);
    }
  }

  /** A money amount or price that must be > 0; returns false when absent or invalid. */
  bool readPositive(const YamlMap& m, std::string_view key, double& out) {
    auto* v = m.find(key);
    if (v == nullptr) return false;
    auto n = r_.number(*v);
    if (!n) return false;
    if (*n <= 0) {
      r_.error(*v, "must be greater than 0");
      return false;
    }
    out = *n;
    return true;
  }

  void readEnvName(const YamlMap& m, std::string_view key, std::string& out, bool allow_empty) {
    auto* v = m.find(key);
    if (v == nullptr) return;
    auto text = r_.string(*v);
    if (!text) return;
    if (!(allow_empty && text->empty())) {
      if (auto problem = checkEnvName(*text)) {
        r_.error(*v, *problem);
        return;
      }
    }
    out = std::move(*text);
  }

  std::optional<ListenAddress> readListen(const YamlMap& m, std::optional<YAML::Mark>& mark) {
    auto* v = m.find("listen");
    if (v == nullptr) return std::nullopt;
    auto text = r_.string(*v);
    if (!text) return std::nullopt;
    std::string why;
    auto address = parseListenAddress(*text, &why);
    if (!address) {
      r_.error(*v, "invalid listen address '" + *text + "': " + why);
      return std::nullopt;
    }
    mark = v->mark;
    return address;
  }

  template <class E, class NameFn>
  void readEnum(const YamlMap& m,
                std::string_view key,
                E& out,
                std::initializer_list<E> values,
                NameFn name) {
    if (auto* v = m.find(key)) {
      if (auto e = r_.enumeration(*v, values, name)) out = *e;
    }
  }

  void readScope(const YamlMap& m, Scope& out) {
    readEnum(m, "scope", out,
             {Scope::Global, Scope::Provider, Scope::Model, Scope::Key, Scope::User, Scope::Team,
              Scope::Customer, Scope::Agent},
             scopeName);
  }

  void readPeriod(const YamlMap& m, Period& out) {
    readEnum(
        m, "period", out,
        {Period::Minute, Period::Hour, Period::Day, Period::Week, Period::Month, Period::Total},
        periodName);
  }

  void readMatch(const YamlMap& m, std::map<std::string, std::string>& out) {
    auto* v = m.find("match");
    if (v == nullptr) return;
    auto entries = r_.freeMap(*v);
    if (!entries) return;
    const auto& dimensions = dimensionNames();
    for (const YamlMap::Entry& entry : entries->entries()) {
      const std::string& dimension = entry.key.node.Scalar();
      if (std::find(dimensions.begin(), dimensions.end(), dimension) == dimensions.end()) {
        r_.error(entry.key.mark, "unknown match dimension '" + dimension + "' in " + v->path +
                                     "; expected one of: provider, model, key, user, team, "
                                     "customer, agent");
        continue;
      }
      auto pattern = r_.string(entry.value);
      if (!pattern) continue;
      if (pattern->empty()) {
        r_.error(entry.value, "must not be empty");
        continue;
      }
      if (const auto bad = core::globError(*pattern)) {
        r_.error(entry.value, bad->message);
        continue;
      }
      if ((dimension == "provider" || dimension == "key") && core::globIsLiteral(*pattern)) {
        literal_subjects_.push_back({dimension, *pattern, entry.value});
      }
      out[dimension] = std::move(*pattern);
    }
  }

  // ---- sections ----

  void parseServer(const YamlValue& value) {
    auto m = r_.map(
        value, {"listen", "threads", "max_body_bytes", "max_header_bytes", "idle_timeout",
                "first_byte_timeout", "request_timeout", "shutdown_grace", "max_buffered_bytes"});
    if (!m) return;
    ServerConfig& s = c_.server;
    if (auto address = readListen(*m, server_listen_mark_)) s.listen = *address;
    if (auto* v = m->find("threads")) {
      if (auto n = r_.integer(*v, 0, kMaxThreads)) {
        s.threads = *n == 0 ? static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))
                            : static_cast<int>(*n);
      }
    }
    readCount(*m, "max_body_bytes", s.max_body_bytes, 1);
    // At most 64 KiB: the head's parser (Beast's, with FlatFields as its basic_fields) holds no
    // field of 64 KiB or more, so a larger limit could never be reached by one field.
    if (auto* v = m->find("max_header_bytes")) {
      if (auto n = r_.integer(*v, 1, kMaxHeaderBytes))
        s.max_header_bytes = static_cast<uint64_t>(*n);
    }
    readDuration(*m, "idle_timeout", s.idle_timeout, false);
    readDuration(*m, "first_byte_timeout", s.first_byte_timeout, false);
    readDuration(*m, "request_timeout", s.request_timeout, false);
    readDuration(*m, "shutdown_grace", s.shutdown_grace, true);
    readCount(*m, "max_buffered_bytes", s.max_buffered_bytes, 0);
  }

  void parseAdmin(const YamlValue& value) {
    auto m = r_.map(value, {"listen", "token_env"});
    if (!m) return;
    if (auto address = readListen(*m, admin_listen_mark_)) {
      c_.admin.listen = *address;
      c_.admin.listen_at = r_.location(*m->find("listen"));
    }
    if (auto* v = m->find("token_env")) token_env_mark_ = v->mark;
    readEnvName(*m, "token_env", c_.admin.token_env, true);
  }

  void checkListeners() {
    const ListenAddress& server = c_.server.listen;
    const ListenAddress& admin = c_.admin.listen;
    auto wildcard = [](const std::string& host) { return host == "0.0.0.0" || host == "::"; };
    if ((server_listen_mark_ || admin_listen_mark_) && server.port != 0 &&
        server.port == admin.port &&
        (server.host == admin.host || wildcard(server.host) || wildcard(admin.host))) {
      r_.error(admin_listen_mark_ ? *admin_listen_mark_ : *server_listen_mark_,
               "admin.listen " + admin.toString() + " conflicts with server.listen " +
                   server.toString());
    }
    if (c_.admin.token_env.empty() && !isLoopbackHost(admin.host)) {
      r_.error(token_env_mark_.value_or(admin_listen_mark_.value_or(YAML::Mark::null_mark())),
               "admin.token_env: must name the admin token variable when admin.listen (" +
                   admin.toString() + ") is not a loopback address");
    }
  }

  /**
   * A literal `match:` provider, or key when only virtual keys get through, that names nothing
   * configured would silently disable its budget or rate limit (SPEC §2). Models, users, teams,
   * customers and agents are open sets; a glob may match nothing yet.
   */
  void checkMatchSubjects() {
    std::string providers;
    for (const std::string& name : provider_names_) {
      providers += (providers.empty() ? "" : ", ") + name;
    }
    for (const LiteralSubject& subject : literal_subjects_) {
      if (subject.dimension == "provider") {
        if (std::find(provider_names_.begin(), provider_names_.end(), subject.value) ==
            provider_names_.end()) {
          r_.error(subject.at,
                   "no provider named '" + subject.value + "' (providers: " + providers + ")");
        }
      } else if (!c_.identity.passthrough) {
        const auto& keys = c_.identity.virtual_keys;
        if (std::none_of(keys.begin(), keys.end(),
                         [&](const VirtualKeyConfig& k) { return k.id == subject.value; })) {
          r_.error(subject.at, "no virtual key with id '" + subject.value +
                                   "' (passthrough is off, so no other key gets through)");
        }
      }
    }
  }

  void parseProviders(const YamlValue& value) {
    auto entries = r_.freeMap(value);
    if (!entries) return;
    if (entries->entries().empty()) {
      r_.error(value,
               "no providers listed; remove the key to use the built-in openai, anthropic and "
               "gemini");
      return;
    }
    // `providers:` replaces the built-in set.
    c_.providers.clear();
    provider_names_.clear();
    std::map<std::string, std::string> route_owner;
    for (const YamlMap::Entry& entry : entries->entries()) {
      // Named even when invalid: its own error suffices, a match on it is no second one.
      provider_names_.push_back(entry.key.node.Scalar());
      if (auto provider = parseProvider(entry, route_owner)) {
        c_.providers.push_back(std::move(*provider));
      }
    }
  }

  std::optional<ProviderConfig> parseProvider(const YamlMap::Entry& entry,
                                              std::map<std::string, std::string>& route_owner) {
    const std::string name = entry.key.node.Scalar();
    const YamlValue& value = entry.value;
    bool ok = true;
    if (name.empty() || !std::all_of(name.begin(), name.end(), isNameChar)) {
      r_.error(entry.key.mark,
               "provider name '" + name + "' may only contain letters, digits, '-', '_' and '.'");
      ok = false;
    }
    auto m =
        r_.map(value, {"format", "base_url", "routes", "api_key_env", "ca_file", "deployments"});
    if (!m) return std::nullopt;

    std::optional<core::ProviderFormat> format;
    if (auto* v = m->find("format")) {
      format = r_.enumeration(*v,
                              {core::ProviderFormat::OpenAI, core::ProviderFormat::Anthropic,
                               core::ProviderFormat::Gemini, core::ProviderFormat::Azure},
                              core::formatName);
      ok = ok && format.has_value();
    } else {
      format = core::parseFormat(name);
      if (!format) {
        r_.error(entry.key.mark, value.path +
                                     ": format is required (openai, anthropic, gemini, azure) "
                                     "unless the provider is named after one");
        ok = false;
      }
    }
    ProviderConfig p = defaultProvider(name, format.value_or(core::ProviderFormat::OpenAI));

    if (auto* v = m->find("base_url")) {
      if (auto text = r_.string(*v)) {
        std::string why;
        if (auto upstream = parseUpstreamUrl(*text, &why)) {
          p.base_url = *text;
          p.upstream = *upstream;
        } else {
          // A URL with an '@' may carry a user and password: then the value is not repeated.
          const std::string shown =
              text->find('@') == std::string::npos ? " '" + *text + "'" : std::string();
          r_.error(*v, "invalid base_url" + shown + ": " + why);
          ok = false;
        }
      } else {
        ok = false;
      }
    } else if (p.base_url.empty()) {
      r_.error(entry.key.mark, value.path + ": base_url is required for " +
                                   std::string(core::formatName(p.format)) +
                                   " providers (e.g. https://RESOURCE.openai.azure.com)");
      ok = false;
    }

    if (auto* v = m->find("routes")) {
      auto items = r_.list(*v);
      if (!items) {
        ok = false;
      } else if (items->empty()) {
        r_.error(*v, "must list at least one path prefix, e.g. [\"/v1/\"]");
        ok = false;
      } else {
        p.routes.clear();
        for (const YamlValue& item : *items) {
          auto route = r_.string(item);
          if (!route) {
            ok = false;
            continue;
          }
          if (route->empty() || route->front() != '/' ||
              route->find_first_of(" \t?#") != std::string::npos) {
            r_.error(item, "route '" + *route + "' must be a path prefix starting with '/'");
            ok = false;
            continue;
          }
          if (!claimRoute(route_owner, *route, name, item)) ok = false;
          p.routes.push_back(std::move(*route));
        }
      }
    } else {
      for (const std::string& route : p.routes) {
        if (!claimRoute(route_owner, route, name, entry.key)) ok = false;
      }
    }

    readEnvName(*m, "api_key_env", p.api_key_env, true);

    if (auto* v = m->find("ca_file")) {
      if (auto path = r_.string(*v); path && !path->empty()) {
        if (auto reason = unreadableReason(*path)) {
          r_.error(*v, "cannot read '" + *path + "': " + *reason);
        } else if (!p.upstream.tls) {
          r_.error(*v, "ca_file only applies to an https base_url");
        }
        p.ca_file = std::move(*path);
        p.ca_file_at = r_.location(*v);
      }
    }

    if (auto* v = m->find("deployments")) {
      if (p.format != core::ProviderFormat::Azure) {
        r_.error(*v, "only azure providers have deployments");
      } else if (auto deployments = r_.freeMap(*v)) {
        for (const YamlMap::Entry& d : deployments->entries()) {
          auto model = r_.string(d.value);
          if (!model) continue;
          if (model->empty()) {
            r_.error(d.value, "must name the model the deployment serves");
            continue;
          }
          p.deployments[d.key.node.Scalar()] = std::move(*model);
        }
      }
    }
    if (!ok) return std::nullopt;
    return p;
  }

  /** Records that `provider` serves `route`; reports a route another provider already has. */
  bool claimRoute(std::map<std::string, std::string>& route_owner,
                  const std::string& route,
                  const std::string& provider,
                  const YamlValue& at) {
    const auto [owner, inserted] = route_owner.emplace(route, provider);
    if (inserted) return true;
    if (owner->second == provider) {
      r_.error(at, "route '" + route + "' is listed twice");
    } else {
      r_.error(at, "route '" + route + "' is already served by provider '" + owner->second + "'");
    }
    return false;
  }

  void parseIdentity(const YamlValue& value) {
    auto m = r_.map(value, {"virtual_keys", "passthrough", "trust_headers"});
    if (!m) return;
    readBool(*m, "passthrough", c_.identity.passthrough);
    readBool(*m, "trust_headers", c_.identity.trust_headers);
    auto* keys = m->find("virtual_keys");
    if (keys == nullptr) return;
    auto items = r_.list(*keys);
    if (!items) return;
    std::map<std::string, int> ids;
    std::map<std::string, std::string> hashes;  // key_sha256 -> id
    for (const YamlValue& item : *items) {
      auto k = r_.map(item, {"id", "key_sha256", "team", "user", "customer", "agent"});
      if (!k) continue;
      VirtualKeyConfig key;
      readName(*k, ids, "virtual key id", key.id, "id");
      if (auto reserved = reservedVirtualKeyId(key.id)) r_.error(*k->find("id"), *reserved);
      if (auto* v = k->find("key_sha256")) {
        if (auto hash = r_.string(*v)) {
          const std::string lower = toLower(*hash);
          if (!isLowerHex64(lower)) {
            r_.error(*v,
                     "must be 64 hex characters (the SHA-256 of the key; `spendgate key new` "
                     "prints it)");
          } else if (const auto [other, inserted] = hashes.emplace(lower, key.id); !inserted) {
            r_.error(*v, "same key_sha256 as virtual key '" + other->second + "'");
          } else {
            key.key_sha256 = lower;
          }
        }
      } else {
        r_.error(item, "key_sha256 is required");
      }
      readString(*k, "team", key.team);
      readString(*k, "user", key.user);
      readString(*k, "customer", key.customer);
      readString(*k, "agent", key.agent);
      c_.identity.virtual_keys.push_back(std::move(key));
    }
  }

  /** Reads a required, unique, non-empty name (`key`) into `out`. */
  void readName(const YamlMap& m,
                std::map<std::string, int>& seen,
                std::string_view what,
                std::string& out,
                std::string_view key = "name") {
    auto* v = m.find(key);
    if (v == nullptr) {
      r_.error(m.self(), std::string(key) + " is required");
      return;
    }
    auto text = r_.string(*v);
    if (!text) return;
    if (text->empty()) {
      r_.error(*v, "must not be empty");
      return;
    }
    const auto [first, inserted] = seen.emplace(*text, v->mark.line + 1);
    if (!inserted) {
      r_.error(*v, "duplicate " + std::string(what) + " '" + *text + "' (first at line " +
                       std::to_string(first->second) + ")");
      return;
    }
    out = std::move(*text);
  }

  void parsePricing(const YamlValue& value) {
    auto m = r_.map(value, {"catalog", "unknown_model", "models"});
    if (!m) return;
    PricingConfig& p = c_.pricing;
    if (auto* v = m->find("catalog")) {
      if (auto catalog = r_.string(*v)) {
        if (catalog->empty()) {
          r_.error(*v, "must be 'builtin' or the path of a catalog file");
        } else if (*catalog != "builtin") {
          if (auto reason = unreadableReason(*catalog)) {
            r_.error(*v, "cannot read '" + *catalog + "': " + *reason);
          }
        }
        p.catalog = std::move(*catalog);
      }
    }
    if (auto* v = m->find("unknown_model")) parseUnknownModel(*v);
    if (auto* v = m->find("models")) {
      auto models = r_.freeMap(*v);
      if (!models) return;
      for (const YamlMap::Entry& entry : models->entries()) {
        if (entry.key.node.Scalar().empty()) {
          r_.error(entry.key.mark, "model names must not be empty");
          continue;
        }
        auto price = parseModelPrice(entry.value);
        if (price) p.models[entry.key.node.Scalar()] = *price;
      }
    }
  }

  void parseUnknownModel(const YamlValue& value) {
    PricingConfig& p = c_.pricing;
    if (value.node.IsScalar()) {
      const std::string& text = value.node.Scalar();
      if (text == "price") {
        r_.error(value, "price needs prices: unknown_model: {price: {input: 1.0, output: 2.0}}");
        return;
      }
      using U = PricingConfig::UnknownModel;
      readEnumValue(value, p.unknown_model, {U::Reject, U::Allow},
                    [](U u) -> std::string_view { return u == U::Allow ? "allow" : "reject"; });
      return;
    }
    auto m = r_.map(value, {"price"});
    if (!m) return;
    auto* price = m->find("price");
    if (price == nullptr) {
      r_.error(value, "expected reject, allow or {price: {input: ..., output: ...}}");
      return;
    }
    auto prices = r_.map(*price, {"input", "output"});
    if (!prices) return;
    bool ok = readPrice(*prices, "input", p.unknown_input, true);
    ok = readPrice(*prices, "output", p.unknown_output, true) && ok;
    if (ok) p.unknown_model = PricingConfig::UnknownModel::Price;
  }

  template <class E, class NameFn>
  void readEnumValue(const YamlValue& v, E& out, std::initializer_list<E> values, NameFn name) {
    if (auto e = r_.enumeration(v, values, name)) out = *e;
  }

  /**
   * A price in USD per 1M tokens under the catalog file's rule (at most 6 decimals, no exponent):
   * a finer one would be rounded to whole picodollars per token without a word.
   */
  bool readPrice(const YamlMap& m, std::string_view key, double& out, bool required) {
    auto* v = m.find(key);
    if (v == nullptr) {
      if (required) r_.error(m.self(), std::string(key) + " is required");
      return !required;
    }
    auto picodollars = r_.usdPerMillion(*v);
    if (!picodollars) return false;
    // Exact: a whole number of micro-USD per 1M tokens divided once, correctly rounded.
    out = static_cast<double>(*picodollars) / 1e6;
    return true;
  }

  std::optional<ModelPriceConfig> parseModelPrice(const YamlValue& value) {
    auto m = r_.map(value, {"input", "cached_input", "output", "cache_write_5m", "cache_write_1h",
                            "input_audio", "output_audio", "max_output_tokens"});
    if (!m) return std::nullopt;
    ModelPriceConfig price;
    bool ok = readPrice(*m, "input", price.input, true);
    ok = readPrice(*m, "output", price.output, true) && ok;
    price.cached_input = price.input;
    ok = readPrice(*m, "cached_input", price.cached_input, false) && ok;
    for (auto [key, slot] : {std::pair{"cache_write_5m", &price.cache_write_5m},
                             std::pair{"cache_write_1h", &price.cache_write_1h},
                             std::pair{"input_audio", &price.input_audio},
                             std::pair{"output_audio", &price.output_audio}}) {
      double amount = 0;
      if (m->find(key) == nullptr) continue;
      if (readPrice(*m, key, amount, true)) {
        *slot = amount;
      } else {
        ok = false;
      }
    }
    if (auto* v = m->find("max_output_tokens")) {
      if (auto n = r_.integer(*v, 1, kMaxInt)) {
        price.max_output_tokens = static_cast<uint64_t>(*n);
      } else {
        ok = false;
      }
    }
    if (!ok) return std::nullopt;
    return price;
  }

  void parseStore(const YamlValue& value) {
    auto m = r_.map(value, {"kind", "redis"});
    if (!m) return;
    using K = StoreConfig::Kind;
    readEnum(*m, "kind", c_.store.kind, {K::Memory, K::Redis},
             [](K k) -> std::string_view { return k == K::Redis ? "redis" : "memory"; });
    auto* redis = m->find("redis");
    if (redis == nullptr) return;
    auto r = r_.map(*redis, {"url", "on_unavailable", "leases"});
    if (!r) return;
    if (auto* v = r->find("url")) {
      if (auto url = r_.string(*v)) {
        // Read as the store reads it, so check refuses what serve could not use (rediss://, a
        // db that is not a number...); the reason never repeats the URL, which may hold a
        // password.
        std::string reason;
        if (!RedisUrl::parse(*url, &reason)) {
          r_.error(*v, "not a Redis URL spendgate can use: " + reason +
                           " (redis://[user:password@]host[:port][/db] or unix:///path)");
        } else {
          c_.store.redis.url = std::move(*url);
        }
      }
    }
    using O = RedisConfig::OnUnavailable;
    readEnum(
        *r, "on_unavailable", c_.store.redis.on_unavailable, {O::FailClosed, O::FailOpen},
        [](O o) -> std::string_view { return o == O::FailOpen ? "fail_open" : "fail_closed"; });
    readBool(*r, "leases", c_.store.redis.leases);
  }

  void parseLedger(const YamlValue& value) {
    auto m = r_.map(value, {"path"});
    if (!m) return;
    readNonEmptyString(*m, "path", c_.ledger.path);
    if (auto* v = m->find("path")) c_.ledger.path_at = r_.location(*v);
  }

  void parseBudgets(const YamlValue& value) {
    auto items = r_.list(value);
    if (!items) return;
    std::map<std::string, int> names;
    for (const YamlValue& item : *items) {
      auto m = r_.map(item, {"name", "scope", "match", "period", "limit_usd", "mode", "alert_at"});
      if (!m) continue;
      BudgetConfig b;
      readName(*m, names, "budget name", b.name);
      readScope(*m, b.scope);
      readMatch(*m, b.match);
      readPeriod(*m, b.period);
      if (m->find("limit_usd") == nullptr) r_.error(item, "limit_usd is required");
      readPositive(*m, "limit_usd", b.limit_usd);
      using M = BudgetConfig::Mode;
      readEnum(*m, "mode", b.mode, {M::Hard, M::Soft}, budgetModeName);
      if (auto* v = m->find("alert_at")) {
        if (auto ratios = r_.list(*v)) {
          b.alert_at.clear();
          for (const YamlValue& ratio : *ratios) {
            auto n = r_.number(ratio);
            if (!n) continue;
            if (*n <= 0 || *n > 10) {
              r_.error(ratio, "alert_at values are fractions of limit_usd in (0, 10], got " +
                                  ratio.node.Scalar());
              continue;
            }
            b.alert_at.push_back(*n);
          }
          std::sort(b.alert_at.begin(), b.alert_at.end());
          b.alert_at.erase(std::unique(b.alert_at.begin(), b.alert_at.end()), b.alert_at.end());
        }
      }
      c_.budgets.push_back(std::move(b));
    }
  }

  void parseRateLimits(const YamlValue& value) {
    auto items = r_.list(value);
    if (!items) return;
    std::map<std::string, int> names;
    for (const YamlValue& item : *items) {
      auto m = r_.map(item, {"name", "scope", "match", "requests_per_minute", "tokens_per_minute",
                             "concurrent"});
      if (!m) continue;
      RateLimitConfig l;
      readName(*m, names, "rate limit name", l.name);
      readScope(*m, l.scope);
      readMatch(*m, l.match);
      readCount(*m, "requests_per_minute", l.requests_per_minute, 0);
      readCount(*m, "tokens_per_minute", l.tokens_per_minute, 0);
      readCount(*m, "concurrent", l.concurrent, 0);
      if (!m->find("requests_per_minute") && !m->find("tokens_per_minute") &&
          !m->find("concurrent")) {
        r_.error(item, "sets none of requests_per_minute, tokens_per_minute, concurrent");
      }
      c_.rate_limits.push_back(std::move(l));
    }
  }

  void parseRequestLimits(const YamlValue& value) {
    auto m = r_.map(value, {"max_cost_usd"});
    if (!m) return;
    double limit = 0;
    if (readPositive(*m, "max_cost_usd", limit)) c_.request_limits.max_cost_usd = limit;
  }

  void parseEmergencyStop(const YamlValue& value) {
    auto m = r_.map(value, {"auto"});
    if (!m) return;
    auto* v = m->find("auto");
    if (v == nullptr) return;
    auto a = r_.map(*v, {"spend_usd", "period", "hold"});
    if (!a) return;
    EmergencyStopConfig::Auto trip;
    if (a->find("spend_usd") == nullptr) r_.error(*v, "spend_usd is required");
    readPositive(*a, "spend_usd", trip.spend_usd);
    readPeriod(*a, trip.period);
    readDuration(*a, "hold", trip.hold, true);
    c_.emergency_stop.auto_stop = trip;
  }

  void parseAlerts(const YamlValue& value) {
    auto m = r_.map(value, {"cooldown", "sinks"});
    if (!m) return;
    readDuration(*m, "cooldown", c_.alerts.cooldown, true);
    auto* sinks = m->find("sinks");
    if (sinks == nullptr) return;
    auto items = r_.list(*sinks);
    if (!items) return;
    for (const YamlValue& item : *items) {
      if (auto sink = parseSink(item)) c_.alerts.sinks.push_back(std::move(*sink));
    }
  }

  std::optional<AlertSinkConfig> parseSink(const YamlValue& item) {
    auto m = r_.map(item, {"type", "url", "url_env", "smtp_url", "from", "to", "min_level"});
    if (!m) return std::nullopt;
    AlertSinkConfig sink;
    using T = AlertSinkConfig::Type;
    auto* type = m->find("type");
    if (type == nullptr) {
      r_.error(item, "type is required (slack, webhook, email)");
      return std::nullopt;
    }
    auto parsed =
        r_.enumeration(*type, {T::Slack, T::Webhook, T::Email}, [](T t) -> std::string_view {
          return t == T::Slack ? "slack" : t == T::Email ? "email" : "webhook";
        });
    if (!parsed) return std::nullopt;
    sink.type = *parsed;
    readEnum(*m, "min_level", sink.min_level,
             {AlertLevel::Info, AlertLevel::Warning, AlertLevel::Critical, AlertLevel::Exceeded},
             alertLevelName);
    const std::string type_name = type->node.Scalar();
    auto notFor = [&](std::initializer_list<std::string_view> keys, std::string_view applies) {
      for (std::string_view key : keys) {
        if (auto* v = m->find(key)) {
          r_.error(*v, "only applies to " + std::string(applies) + " sinks, not " + type_name);
        }
      }
    };
    if (sink.type == T::Email) {
      notFor({"url", "url_env"}, "slack and webhook");
      if (auto* v = m->find("smtp_url")) {
        if (auto url = r_.string(*v)) {
          if (auto reason = badUrlReason(*url, {"smtp", "smtps"})) {
            r_.error(*v, *reason);
          } else {
            sink.smtp_url = std::move(*url);
          }
        }
      } else {
        r_.error(item, "smtp_url is required for email sinks");
      }
      if (auto* v = m->find("from")) {
        if (auto from = r_.string(*v)) {
          if (from->find('@') == std::string::npos) {
            r_.error(*v, "'" + *from + "' is not an email address");
          } else {
            sink.from = std::move(*from);
          }
        }
      } else {
        r_.error(item, "from is required for email sinks");
      }
      if (auto* v = m->find("to")) {
        if (auto items = r_.list(*v)) {
          if (items->empty()) r_.error(*v, "must list at least one address");
          for (const YamlValue& to : *items) {
            auto address = r_.string(to);
            if (!address) continue;
            if (address->find('@') == std::string::npos) {
              r_.error(to, "'" + *address + "' is not an email address");
              continue;
            }
            sink.to.push_back(std::move(*address));
          }
        }
      } else {
        r_.error(item, "to is required for email sinks");
      }
      return sink;
    }
    notFor({"smtp_url", "from", "to"}, "email");
    auto* url = m->find("url");
    auto* url_env = m->find("url_env");
    if ((url == nullptr) == (url_env == nullptr)) {
      r_.error(url != nullptr ? *url_env : item, "set exactly one of url and url_env");
    }
    if (url != nullptr) {
      if (auto text = r_.string(*url)) {
        if (auto reason = badUrlReason(*text, {"http", "https"})) {
          r_.error(*url, *reason);
        } else {
          sink.url = std::move(*text);
        }
      }
    }
    readEnvName(*m, "url_env", sink.url_env, false);
    return sink;
  }

  void parseLogging(const YamlValue& value) {
    auto m = r_.map(value, {"format", "level"});
    if (!m) return;
    using F = LoggingConfig::Format;
    readEnum(*m, "format", c_.logging.format, {F::Text, F::Json},
             [](F f) -> std::string_view { return f == F::Json ? "json" : "text"; });
    if (auto* v = m->find("level")) {
      auto level =
          r_.enumeration<std::string_view>(*v, {"trace", "debug", "info", "warn", "error", "off"},
                                           [](std::string_view s) { return s; });
      if (level) c_.logging.level = std::string(*level);
    }
  }

  /** A `match:` value without wildcards on a dimension with a closed set of names. */
  struct LiteralSubject {
    std::string dimension;
    std::string value;
    YamlValue at;
  };

  YamlReader& r_;
  Config& c_;
  std::vector<std::string> provider_names_;  // the built-in set until `providers:` replaces it
  std::vector<LiteralSubject> literal_subjects_;
  std::optional<YAML::Mark> server_listen_mark_;
  std::optional<YAML::Mark> admin_listen_mark_;
  std::optional<YAML::Mark> token_env_mark_;
};

}  // namespace

LoadResult loadConfigString(const std::string& yaml, const std::string& source_name) {
  YamlReader reader(source_name);
  Config config = defaultConfig();
  config.source = source_name;
  try {
    const YAML::Node document = reader.loadSingleDocument(yaml);
    if (!document.IsNull()) ConfigParser(reader, config).parse(document);
  } catch (const YAML::ParserException& e) {
    reader.syntaxError(yaml, e.mark, e.msg);
  } catch (const YAML::Exception& e) {
    reader.error(e.mark, "YAML error: " + e.msg);
  }
  LoadResult result;
  if (reader.hasErrors()) {
    result.errors = reader.takeErrors();
  } else {
    result.config = std::move(config);
  }
  return result;
}

LoadResult loadConfigFile(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    return {std::nullopt, {path + ": cannot read: " + std::strerror(errno)}};
  }
  std::string text;
  char buffer[65536];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, file)) > 0) text.append(buffer, n);
  const int read_error = std::ferror(file) ? errno : 0;
  std::fclose(file);
  if (read_error != 0) {
    return {std::nullopt, {path + ": cannot read: " + std::strerror(read_error)}};
  }
  return loadConfigString(text, path);
}

std::optional<std::string> reservedVirtualKeyId(std::string_view id) {
  if (id == "anonymous") {
    return "virtual key id 'anonymous' is reserved: it names the callers that send no key "
           "(passthrough), whose spend would be counted as this key's; choose another id";
  }
  if (id.size() == 15 && id.starts_with("fp_") && std::all_of(id.begin() + 3, id.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
      })) {
    return "virtual key id '" + std::string(id) +
           "' is reserved: fp_ and 12 hex digits name a passthrough key by its fingerprint; "
           "choose another id";
  }
  return std::nullopt;
}

}  // namespace spendgate::config
