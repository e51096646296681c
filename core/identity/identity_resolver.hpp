#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/identity/identity.hpp"

namespace spendgate::core {

/**
 * Decides who a caller is from the SHA-256 of the key it presented (the proxy hashes; core
 * never sees where the key came from) and, when trusted, the X-Spendgate-* headers.
 */
class IdentityResolver {
public:
  struct VirtualKey {
    std::string id;
    std::string key_sha256;  // lower-case hex
    std::string user, team, customer, agent;
  };
  struct Headers {
    std::string_view user, team, customer, agent;  // X-Spendgate-User / -Team / -Customer / -Agent
  };

  IdentityResolver(std::vector<VirtualKey> keys, bool passthrough, bool trust_headers);

  /**
   * @param key_sha256 hex digest of the presented key, or "" when the caller sent none
   * @param virtual_key_format the presented key has our own shape (hasVirtualKeyFormat)
   * @return the identity, or nullopt when the key is unknown and passthrough is off, or when a
   *         key in our own shape matches no virtual key (revoked or mistyped: never forwarded)
   */
  std::optional<Identity> resolve(std::string_view key_sha256,
                                  const Headers& headers,
                                  bool virtual_key_format = false) const;

  /** @return whether any virtual key is configured. */
  bool hasVirtualKeys() const { return !by_hash_.empty(); }

  /** @return whether the digest is one of the configured virtual keys'. */
  bool isVirtualKey(std::string_view key_sha256) const { return by_hash_.contains(key_sha256); }

  /** @return the public name of a passthrough key: "fp_" and the digest's first 12 hex digits. */
  static std::string fingerprint(std::string_view key_sha256);

private:
  struct StringHash {
    using is_transparent = void;  // looked up by string_view: no copy of the digest per request
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, VirtualKey, StringHash, std::equal_to<>> by_hash_;
  bool passthrough_;
  bool trust_headers_;
};

}  // namespace spendgate::core
