#include "proxy/admin/admin_auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>

#include "proxy/identity/caller_key.hpp"

namespace spendgate::proxy {

namespace {

using Digest = std::array<unsigned char, 32>;

Digest sha256(std::string_view text) {
  Digest digest{};
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest.data(), &length, EVP_sha256(), nullptr);
  return digest;
}

}  // namespace

bool adminTokenMatches(std::string_view authorization, std::string_view token) {
  if (token.empty()) return false;
  const std::string_view sent = bearerToken(authorization);
  if (sent.empty()) return false;
  // Fixed-size digests: equal-length comparison whatever was sent.
  const Digest a = sha256(sent);
  const Digest b = sha256(token);
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace spendgate::proxy
