// How far a request body is read as JSON (request_body_json.hpp), by the classifier and the
// include_usage injection alike: a leading UTF-8 BOM, the nesting limit, and the stack it takes.

#include "core/metering/request_body_json.hpp"

#include <gtest/gtest.h>
#include <pthread.h>

#include <optional>
#include <string>

#include "core/metering/include_usage_injector.hpp"
#include "core/metering/request_classifier.hpp"
#include "tests/core/request_body_samples.hpp"

namespace spendgate::core {
namespace {

using testing::chat;
using testing::kBom;
using testing::nestedBody;

TEST(RequestBodyJson, ABomBeforeTheJsonIsSkipped) {
  const std::string body =
      kBom + R"({"model":"gpt-4o","stream":true,"max_tokens":7,"messages":[]})";
  const auto info = chat(body);
  EXPECT_TRUE(info.body_is_json);
  EXPECT_EQ(info.requested_model, "gpt-4o");
  EXPECT_EQ(info.max_output_tokens, 7);
  EXPECT_TRUE(info.stream);
  EXPECT_TRUE(info.needs_usage_injection);
  // The whole body, BOM included, is what the input bound is taken from.
  EXPECT_EQ(info.request_body_bytes, static_cast<std::int64_t>(body.size()));

  // One BOM only, and only at the start.
  EXPECT_FALSE(chat(kBom + kBom + R"({"model":"gpt-4o"})").body_is_json);
  EXPECT_FALSE(chat(R"( {"model":"gpt-4o"})" + kBom).body_is_json);
  EXPECT_FALSE(chat(kBom).body_is_json);
}

TEST(RequestBodyJson, NestingUpToTheLimitIsRead) {
  EXPECT_EQ(kRequestBodyMaxDepth, 1024u);
  for (const std::size_t depth : {256u, 257u, 300u, 1023u, 1024u}) {
    const auto info = chat(nestedBody(depth));
    EXPECT_TRUE(info.body_is_json) << depth;
    EXPECT_EQ(info.requested_model, "gpt-4o") << depth;
  }
  const auto deeper = chat(nestedBody(1025));
  EXPECT_FALSE(deeper.body_is_json);
  EXPECT_EQ(deeper.requested_model, "");
}

TEST(RequestBodyJson, TheInjectionKeepsTheBomAndReadsDeepBodies) {
  const auto injected = injectIncludeUsage(kBom + R"({"model":"m","stream":true})");
  ASSERT_TRUE(injected);
  EXPECT_EQ(*injected,
            kBom + R"({"model":"m","stream":true,"stream_options":{"include_usage":true}})");

  const std::string deep = nestedBody(kRequestBodyMaxDepth, R"({"stream":true,"x":)");
  const auto deep_injected = injectIncludeUsage(deep);
  ASSERT_TRUE(deep_injected);
  EXPECT_EQ(deep_injected->substr(deep.size() - 1), R"(,"stream_options":{"include_usage":true}})");
  EXPECT_FALSE(injectIncludeUsage(nestedBody(kRequestBodyMaxDepth + 1, R"({"stream":true,"x":)")));
}

// The parser recurses once per level on the worker thread's stack. At the limit, both readers must
// fit well inside the smallest stack a worker gets (glibc's 2 MiB when RLIMIT_STACK is unlimited):
// they are run here on a 512 KiB one. A Debug build takes about half of it.
TEST(RequestBodyJson, TheDepthLimitFitsASmallThreadStack) {
  struct Work {
    std::string classified_body = nestedBody(kRequestBodyMaxDepth);
    std::string injected_body = nestedBody(kRequestBodyMaxDepth, R"({"stream":true,"x":)");
    bool read = false;
    bool injected = false;
  } work;
  pthread_attr_t attributes;
  ASSERT_EQ(pthread_attr_init(&attributes), 0);
  ASSERT_EQ(pthread_attr_setstacksize(&attributes, 512 * 1024), 0);
  pthread_t thread;
  ASSERT_EQ(pthread_create(
                &thread, &attributes,
                [](void* argument) -> void* {
                  auto& w = *static_cast<Work*>(argument);
                  w.read = chat(w.classified_body).body_is_json;
                  w.injected = injectIncludeUsage(w.injected_body).has_value();
                  return nullptr;
                },
                &work),
            0);
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attributes);
  EXPECT_TRUE(work.read);
  EXPECT_TRUE(work.injected);
}

}  // namespace
}  // namespace spendgate::core
