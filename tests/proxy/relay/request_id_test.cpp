#include "proxy/relay/request_id.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

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

}  // namespace
}  // namespace spendgate::proxy
