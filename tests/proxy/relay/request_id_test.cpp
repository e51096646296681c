#include "proxy/relay/request_id.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace spendgate::proxy {
namespace {

bool wellFormed(const std::string& id) {
  if (id.size() != 28 || id.compare(0, 4, "req_") != 0) return false;
  for (std::size_t i = 4; i < id.size(); ++i) {
    const char c = id[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// The session writes each request's id into the string it kept from the one before.
TEST(RequestIdTest, IntoAKeptStringAsANewOne) {
  std::set<std::string> seen;
  std::string kept = "a longer text than any request id, left by something before it";
  for (int i = 0; i < 1000; ++i) {
    newRequestId(kept);
    EXPECT_TRUE(wellFormed(kept)) << kept;
    EXPECT_TRUE(seen.insert(kept).second) << kept;
    const std::string fresh = newRequestId();
    EXPECT_TRUE(wellFormed(fresh)) << fresh;
    EXPECT_TRUE(seen.insert(fresh).second) << fresh;
  }
}

/** The id's text as newRequestId wrote it before formatRequestId (a nibble at a time). */
std::string referenceId(std::uint64_t a, std::uint64_t b) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "req_";
  id.resize(4 + 24);
  for (int i = 0; i < 16; ++i) id[4 + i] = kHex[(a >> (i * 4)) & 0xf];
  for (int i = 0; i < 8; ++i) id[20 + i] = kHex[(b >> (i * 4)) & 0xf];
  return id;
}

TEST(RequestIdTest, FormattedAsBeforeNibbleByNibble) {
  std::uint64_t seed = 0x9e3779b97f4a7c15ULL;
  const auto next = [&seed] {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed;
  };
  std::vector<std::pair<std::uint64_t, std::uint64_t>> draws = {
      {0, 0}, {~0ULL, ~0ULL}, {0x0123456789abcdefULL, 0xfedcba9876543210ULL}, {1, 1ULL << 63}};
  for (int shift = 0; shift < 64; ++shift)
    draws.emplace_back(1ULL << shift, 0xfULL << (shift % 61));
  for (int i = 0; i < 20000; ++i) draws.emplace_back(next(), next());
  for (const auto& [a, b] : draws) {
    char text[kRequestIdChars];
    formatRequestId(text, a, b);
    ASSERT_EQ(std::string(text, kRequestIdChars), referenceId(a, b)) << a << " " << b;
  }
}

}  // namespace
}  // namespace spendgate::proxy
