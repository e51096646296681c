#include "proxy/admin/admin_auth.hpp"

#include <gtest/gtest.h>

namespace spendgate::proxy {
namespace {

TEST(AdminAuth, SchemeIsCaseInsensitiveAndBlanksAreAnyRun) {
  for (const char* value :
       {"Bearer s3cret", "bearer s3cret", "BEARER s3cret", "bEaReR\ts3cret", "Bearer  \t s3cret"}) {
    EXPECT_TRUE(adminTokenMatches(value, "s3cret")) << value;
  }
}

TEST(AdminAuth, RefusesWrongTokensAndSchemes) {
  for (const char* value : {"Bearer s3cre", "Bearer s3cret2", "Bearer S3CRET", "s3cret",
                            "Basic s3cret", "Bearers3cret", "Bearer ", "Bearer", ""}) {
    EXPECT_FALSE(adminTokenMatches(value, "s3cret")) << value;
  }
  EXPECT_FALSE(adminTokenMatches("Bearer x", ""));  // no token configured: nothing matches
}

}  // namespace
}  // namespace spendgate::proxy
