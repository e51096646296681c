#include "core/identity/identity_resolver.hpp"

#include "core/text/utf8.hpp"

namespace spendgate::core {

IdentityResolver::IdentityResolver(std::vector<VirtualKey> keys,
                                   bool passthrough,
                                   bool trust_headers)
    : passthrough_(passthrough), trust_headers_(trust_headers) {
  for (auto& key : keys) {
    std::string hash = key.key_sha256;
    for (auto& c : hash) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    by_hash_.emplace(std::move(hash), std::move(key));
  }
}

std::string IdentityResolver::fingerprint(std::string_view key_sha256) {
  return "fp_" + std::string(key_sha256.substr(0, 12));
}

std::optional<Identity> IdentityResolver::resolve(std::string_view key_sha256,
                                                  const Headers& headers,
                                                  bool virtual_key_format) const {
  Identity identity;
  if (auto found = by_hash_.find(key_sha256); found != by_hash_.end()) {
    const VirtualKey& key = found->second;
    identity.key = key.id;
    identity.user = key.user;
    identity.team = key.team;
    identity.customer = key.customer;
    identity.agent = key.agent;
    identity.virtual_key = true;
  } else if (!passthrough_ || virtual_key_format) {
    // A virtual key of ours that no config lists (revoked, mistyped) must not reach the provider.
    return std::nullopt;
  } else {
    identity.key = key_sha256.empty() ? "anonymous" : fingerprint(key_sha256);
  }
  // Headers fill in what the key does not say; a virtual key's own attribution wins.
  if (trust_headers_) {
    // A header value may hold any byte from 0x80 up; a subject must be UTF-8 (ledger, JSON,
    // labels).
    auto fill = [](std::string& field, std::string_view value) {
      if (field.empty() && !value.empty()) field = validUtf8(value);
    };
    fill(identity.user, headers.user);
    fill(identity.team, headers.team);
    fill(identity.customer, headers.customer);
    fill(identity.agent, headers.agent);
  }
  return identity;
}

}  // namespace spendgate::core
