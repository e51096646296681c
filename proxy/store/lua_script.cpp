#include "proxy/store/lua_script.hpp"

#include <openssl/evp.h>

namespace spendgate::proxy {

namespace {

std::string sha1Hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  // EVP_Digest only fails on allocation failure; an empty hash then makes EVALSHA fail with
  // NOSCRIPT and the client falls back to EVAL, so nothing breaks.
  if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha1(), nullptr) != 1) return {};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0x0f]);
  }
  return hex;
}

}  // namespace

LuaScript::LuaScript(std::string source) {
  auto sha = sha1Hex(source);
  state_ = std::make_shared<const State>(State{std::move(source), std::move(sha)});
}

}  // namespace spendgate::proxy
