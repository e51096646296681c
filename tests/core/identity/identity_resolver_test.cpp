#include "core/identity/identity_resolver.hpp"

#include <gtest/gtest.h>

#include "core/ledger/ledger_entry.hpp"
#include "core/ledger/ledger_line_parser.hpp"

namespace spendgate::core {
namespace {

const std::string kHash(64, 'a');

IdentityResolver resolver(bool passthrough, bool trust_headers) {
  return IdentityResolver({{"search-team", std::string(64, 'A'), "alice", "search", "acme", ""}},
                          passthrough, trust_headers);
}

TEST(IdentityResolverTest, VirtualKeyMatchesByHashCaseInsensitively) {
  auto identity = resolver(false, false).resolve(kHash, {});
  ASSERT_TRUE(identity);
  EXPECT_EQ(identity->key, "search-team");
  EXPECT_EQ(identity->user, "alice");
  EXPECT_EQ(identity->team, "search");
  EXPECT_EQ(identity->customer, "acme");
  EXPECT_TRUE(identity->virtual_key);
}

TEST(IdentityResolverTest, PassthroughKeyIsAFingerprintNeverTheKey) {
  const std::string other = "0123456789abcdef" + std::string(48, '0');
  auto identity = resolver(true, false).resolve(other, {});
  ASSERT_TRUE(identity);
  EXPECT_EQ(identity->key, "fp_0123456789ab");
  EXPECT_FALSE(identity->virtual_key);
}

TEST(IdentityResolverTest, UnknownKeyRefusedWithoutPassthrough) {
  EXPECT_FALSE(resolver(false, true).resolve(std::string(64, 'b'), {}));
  EXPECT_FALSE(resolver(false, true).resolve("", {}));
}

TEST(IdentityResolverTest, UnlistedKeyInOurOwnShapeRefusedEvenWithPassthrough) {
  // A revoked or mistyped virtual key must never be forwarded as a provider key.
  EXPECT_FALSE(resolver(true, false).resolve(std::string(64, 'b'), {}, true));
  // A listed one in our shape is still the virtual key.
  auto listed = resolver(true, false).resolve(kHash, {}, true);
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->key, "search-team");
}

TEST(IdentityResolverTest, NoKeyIsAnonymousWithPassthrough) {
  auto identity = resolver(true, false).resolve("", {});
  ASSERT_TRUE(identity);
  EXPECT_EQ(identity->key, "anonymous");
}

TEST(IdentityResolverTest, TrustedHeadersFillGapsButVirtualKeyWins) {
  IdentityResolver::Headers headers{"mallory", "other", "", "crawler"};
  auto identity = resolver(true, true).resolve(kHash, headers);
  ASSERT_TRUE(identity);
  EXPECT_EQ(identity->user, "alice");     // the key says alice
  EXPECT_EQ(identity->team, "search");    // the key says search
  EXPECT_EQ(identity->agent, "crawler");  // the key says nothing: header fills it

  auto passthrough = resolver(true, true).resolve(std::string(64, 'c'), headers);
  EXPECT_EQ(passthrough->user, "mallory");
  EXPECT_EQ(passthrough->team, "other");
}

TEST(IdentityResolverTest, UntrustedHeadersAreIgnored) {
  IdentityResolver::Headers headers{"mallory", "other", "x", "y"};
  auto identity = resolver(true, false).resolve(std::string(64, 'c'), headers);
  EXPECT_EQ(identity->user, "");
  EXPECT_EQ(identity->team, "");
}

// A header value may carry any byte from 0x80 up. The subject it names goes into the ledger, whose
// lines must read back on replay (a line that is not UTF-8 would be refused and its cost lost).
TEST(IdentityResolverTest, HeaderValuesThatAreNotUtf8BecomeUtf8AndTheirLedgerLineReadsBack) {
  auto identity = resolver(true, true)
                      .resolve("", {.user = "b\xE9"
                                            "b",
                                    .team = "\xFFsearch",
                                    .customer = {},
                                    .agent = {}});
  ASSERT_TRUE(identity);
  EXPECT_EQ(identity->user,
            "b\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(identity->team, "\xEF\xBF\xBDsearch");

  LedgerEntry entry;
  entry.request_id = "req_1";
  entry.user = identity->user;
  entry.team = identity->team;
  const auto line = toJsonLine(entry);
  const auto back = parseLedgerLine(line);
  ASSERT_TRUE(back) << line;
  EXPECT_EQ(back->user, identity->user);
  EXPECT_EQ(back->team, identity->team);
}

}  // namespace
}  // namespace spendgate::core
