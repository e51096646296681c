#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/identity/identity.hpp"
#include "core/identity/identity_resolver.hpp"

namespace spendgate::proxy {

/**
 * A connection's last resolved identity and everything it was resolved from: the resolver (held,
 * so a later resolver can never be mistaken for it at the same address), the key's digest and
 * shape, and the claimed X-Spendgate-* headers. A request with the same inputs, as nearly every
 * request of a keep-alive connection is, takes the identity from here instead of resolving it
 * again (a hash of the digest, a search, a fingerprint string). An IdentityResolver never changes
 * once made (a reload makes a new one), so the same inputs resolve to the same identity.
 */
class IdentityMemo {
public:
  /** @return the identity remembered for exactly these inputs, or nullptr. */
  const core::Identity* find(const std::shared_ptr<const core::IdentityResolver>& resolver,
                             std::string_view key_sha256,
                             const core::IdentityResolver::Headers& claimed,
                             bool virtual_key_format) const {
    if (resolver_ == nullptr || resolver_ != resolver) return nullptr;
    if (virtual_key_format_ != virtual_key_format || key_sha256_ != key_sha256) return nullptr;
    if (user_ != claimed.user || team_ != claimed.team || customer_ != claimed.customer ||
        agent_ != claimed.agent) {
      return nullptr;
    }
    return &identity_;
  }

  /** Remembers what `resolver` resolved for these inputs; @return the remembered identity. */
  const core::Identity& remember(std::shared_ptr<const core::IdentityResolver> resolver,
                                 std::string_view key_sha256,
                                 const core::IdentityResolver::Headers& claimed,
                                 bool virtual_key_format,
                                 core::Identity identity) {
    resolver_ = std::move(resolver);
    key_sha256_.assign(key_sha256);
    virtual_key_format_ = virtual_key_format;
    user_.assign(claimed.user);
    team_.assign(claimed.team);
    customer_.assign(claimed.customer);
    agent_.assign(claimed.agent);
    identity_ = std::move(identity);
    return identity_;
  }

  /** Forgets the identity (and lets go of its resolver). */
  void forget() { resolver_.reset(); }

private:
  std::shared_ptr<const core::IdentityResolver> resolver_;
  std::string key_sha256_;
  bool virtual_key_format_ = false;
  std::string user_, team_, customer_, agent_;
  core::Identity identity_;
};

}  // namespace spendgate::proxy
