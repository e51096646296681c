#include "proxy/identity/identity_memo.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace spendgate::proxy {
namespace {

using core::Identity;
using core::IdentityResolver;

const std::string kDigest(64, 'a');
const std::string kOtherDigest(64, 'b');

std::shared_ptr<const IdentityResolver> resolver() {
  IdentityResolver::VirtualKey key;
  key.id = "team-a-key";
  key.key_sha256 = kDigest;
  key.team = "a";
  return std::make_shared<const IdentityResolver>(std::vector{key}, true, true);
}

/** What the session does: the memo's identity, else the resolver's, remembered. */
std::optional<Identity> lookUp(IdentityMemo& memo,
                               const std::shared_ptr<const IdentityResolver>& r,
                               const std::string& digest,
                               const IdentityResolver::Headers& claimed,
                               bool virtual_key_format,
                               bool& hit) {
  const Identity* identity = memo.find(r, digest, claimed, virtual_key_format);
  hit = identity != nullptr;
  if (identity == nullptr) {
    auto resolved = r->resolve(digest, claimed, virtual_key_format);
    if (!resolved) return std::nullopt;
    identity = &memo.remember(r, digest, claimed, virtual_key_format, std::move(*resolved));
  }
  return *identity;
}

bool same(const Identity& a, const Identity& b) {
  return a.key == b.key && a.user == b.user && a.team == b.team && a.customer == b.customer &&
         a.agent == b.agent && a.virtual_key == b.virtual_key;
}

TEST(IdentityMemoTest, TheSameInputsGiveTheRememberedIdentityAnyOtherResolvesAgain) {
  const auto first = resolver();
  const auto reloaded = resolver();  // equal content, another resolver: not the memo's
  IdentityMemo memo;
  EXPECT_EQ(memo.find(first, kDigest, {}, false), nullptr);

  const IdentityResolver::Headers alice{.user = "alice", .team = "", .customer = "", .agent = ""};
  struct Step {
    const std::shared_ptr<const IdentityResolver>* resolver;
    const std::string* digest;
    IdentityResolver::Headers claimed;
    bool virtual_key_format;
    bool hit;
  };
  const Step steps[] = {
      {&first, &kDigest, alice, false, false},
      {&first, &kDigest, alice, false, true},
      {&first, &kDigest, {.user = "bob", .team = "", .customer = "", .agent = ""}, false, false},
      {&first, &kDigest, {.user = "bob", .team = "t", .customer = "", .agent = ""}, false, false},
      {&first, &kDigest, {.user = "bob", .team = "t", .customer = "c", .agent = ""}, false, false},
      {&first, &kDigest, {.user = "bob", .team = "t", .customer = "c", .agent = "x"}, false, false},
      {&first, &kDigest, {.user = "bob", .team = "t", .customer = "c", .agent = "x"}, false, true},
      {&first, &kOtherDigest, alice, false, false},  // a passthrough key: fp_bbb...
      {&first, &kOtherDigest, alice, false, true},
      {&first, &kDigest, alice, false, false},
      {&first, &kDigest, alice, true, false},
      {&reloaded, &kDigest, alice, true, false},
      {&reloaded, &kDigest, alice, true, true},
      {&first, &kDigest, alice, true, false},
  };
  for (std::size_t i = 0; i < std::size(steps); ++i) {
    const Step& step = steps[i];
    bool hit = false;
    const auto got =
        lookUp(memo, *step.resolver, *step.digest, step.claimed, step.virtual_key_format, hit);
    const auto want =
        (*step.resolver)->resolve(*step.digest, step.claimed, step.virtual_key_format);
    ASSERT_TRUE(got && want) << i;
    EXPECT_TRUE(same(*got, *want)) << i << ": " << got->key << " " << got->user << " " << got->team;
    EXPECT_EQ(hit, step.hit) << i;
  }
  memo.forget();
  EXPECT_EQ(memo.find(first, kDigest, alice, true), nullptr);
}

TEST(IdentityMemoTest, ARefusedKeyIsNotRemembered) {
  IdentityResolver::VirtualKey key;
  key.id = "k";
  key.key_sha256 = kDigest;
  const auto strict = std::make_shared<const IdentityResolver>(std::vector{key}, false, true);
  IdentityMemo memo;
  bool hit = false;
  EXPECT_TRUE(lookUp(memo, strict, kDigest, {}, false, hit));
  EXPECT_FALSE(lookUp(memo, strict, kOtherDigest, {}, false, hit));  // not listed, no passthrough
  EXPECT_FALSE(hit);
  EXPECT_FALSE(lookUp(memo, strict, kOtherDigest, {}, false, hit));
  EXPECT_FALSE(hit);
  EXPECT_EQ(memo.find(strict, kOtherDigest, {}, false), nullptr);
  EXPECT_NE(memo.find(strict, kDigest, {}, false), nullptr);  // the last accepted one stays
}

}  // namespace
}  // namespace spendgate::proxy
