#include "core/http/canonical_path.hpp"

#include <gtest/gtest.h>

#include <string>

namespace spendgate::core {
namespace {

std::string canonical(const char* path) {
  const CanonicalPath p(path);
  EXPECT_TRUE(p.valid()) << path << ": " << p.problem();
  return std::string(p.view());
}

TEST(CanonicalPath, APlainPathIsKeptWithoutItsQuery) {
  const CanonicalPath plain("/v1beta/models/gemini-2.5-flash:generateContent?alt=sse");
  EXPECT_TRUE(plain.valid());
  EXPECT_FALSE(plain.rewritten());
  EXPECT_EQ(plain.view(), "/v1beta/models/gemini-2.5-flash:generateContent");
  EXPECT_EQ(canonical("/v1/chat/completions/"), "/v1/chat/completions/");
  EXPECT_EQ(canonical("/.well-known"), "/.well-known");  // looked at, nothing to change
  EXPECT_FALSE(CanonicalPath("/.well-known").rewritten());
}

TEST(CanonicalPath, EveryEscapeIsDecodedInEitherCase) {
  EXPECT_EQ(canonical("/v1beta/models/gemini-2.5-flash%3AgenerateContent"),
            "/v1beta/models/gemini-2.5-flash:generateContent");
  EXPECT_EQ(canonical("/v1beta/models/gemini-2.5-flash%3astreamGenerateContent?alt=sse"),
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent");
  EXPECT_EQ(canonical("/v1/chat%2Fcompletions"), "/v1/chat/completions");
  EXPECT_EQ(canonical("/v1/chat%2fcompletions"), "/v1/chat/completions");
  EXPECT_EQ(canonical("/v1/chat/complet%69ons"), "/v1/chat/completions");
  EXPECT_TRUE(CanonicalPath("/v1/chat%2Fcompletions").rewritten());
  // A gateway may decode once and its upstream again.
  EXPECT_EQ(canonical("/v1beta/models/g%253AgenerateContent"), "/v1beta/models/g:generateContent");
  EXPECT_EQ(canonical("/v1/chat%25252Fcompletions"), "/v1/chat/completions");
}

TEST(CanonicalPath, RepeatedSlashesCollapseAndDotSegmentsResolve) {
  EXPECT_EQ(canonical("//v1//chat///completions"), "/v1/chat/completions");
  EXPECT_EQ(canonical("/v1/./chat/completions"), "/v1/chat/completions");
  EXPECT_EQ(canonical("/v1/models/../chat/completions"), "/v1/chat/completions");
  EXPECT_EQ(canonical("/v1/chat/completions/."), "/v1/chat/completions/");
  EXPECT_EQ(canonical("/v1/chat/x/.."), "/v1/chat/");
  EXPECT_EQ(canonical("/v1/x/%2E%2E/chat%2F.%2Fcompletions"), "/v1/chat/completions");
  // Slashes first, as nginx merges them: "a//.." takes back "a", not an empty segment.
  EXPECT_EQ(canonical("/v1/a//../chat/completions"), "/v1/chat/completions");
  // Names that only start with a dot are names.
  EXPECT_EQ(canonical("/v1/.../..x/.y"), "/v1/.../..x/.y");
  EXPECT_EQ(canonical("/..a"), "/..a");
}

// The quick look reads 8 bytes at a time: what it looks for is found at every offset.
TEST(CanonicalPath, EveryOffsetIsLookedAt) {
  for (std::size_t size = 1; size <= 40; ++size) {
    for (std::size_t at = 0; at < size; ++at) {
      for (const std::string marker : {"%61", "//", "/./", "/x/../"}) {
        std::string path = "/" + std::string(size, 'a');
        path.insert(at + 1, marker);
        const CanonicalPath p(path);
        EXPECT_TRUE(p.valid()) << path;
        EXPECT_TRUE(p.rewritten()) << path;
        EXPECT_EQ(p.view().find_first_of("%."), std::string_view::npos) << path;
        EXPECT_EQ(p.view().find("//"), std::string_view::npos) << path;
      }
    }
  }
}

TEST(CanonicalPath, PathsNoReadingAgreesOnAreInvalid) {
  for (const char* path :
       {"/v1/chat%2gcompletions", "/v1/chat%zzcompletions", "/v1/chat%", "/v1/chat%2", "/v1/100%25",
        "/v1/a%00b", "/v1/chat%3Fx/completions", "/v1/chat%23/completions", "/..",
        "/v1/chat/completions#x", "/v1beta/models/g:generateContent#", "/v1/#/chat/completions",
        "/v1/../../v1beta/models/g:predict", "/v1/%2E%2E/%2e%2e/x", "/v1/x%252"}) {
    const CanonicalPath p(path);
    EXPECT_FALSE(p.valid()) << path;
    EXPECT_FALSE(p.problem().empty()) << path;
    EXPECT_FALSE(p.rewritten()) << path;
    EXPECT_EQ(p.view(), std::string(path).substr(0, std::string(path).find('?'))) << path;
  }
  // The query is no part of the path: a '%' there is not looked at.
  EXPECT_TRUE(CanonicalPath("/v1/chat/completions?x=%zz").valid());
}

}  // namespace
}  // namespace spendgate::core
