#include "core/usage/json_array_splitter.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace spendgate::core {
namespace {

class Collect final : public JsonArraySplitter::Handler {
public:
  void onElement(std::string_view json) override { elements.emplace_back(json); }
  std::vector<std::string> elements;
};

TEST(JsonArraySplitter, SplitsAtEveryOffset) {
  const std::string text = "[{\"a\":\"x]}\\\"\"},\r\n{\"b\":[1,{\"c\":2}]}\r\n]";
  for (std::size_t cut = 0; cut <= text.size(); ++cut) {
    JsonArraySplitter splitter;
    Collect collect;
    splitter.feed(std::string_view(text).substr(0, cut), collect);
    splitter.feed(std::string_view(text).substr(cut), collect);
    ASSERT_EQ(collect.elements.size(), 2u) << cut;
    EXPECT_EQ(collect.elements[0], "{\"a\":\"x]}\\\"\"}");
    EXPECT_EQ(collect.elements[1], "{\"b\":[1,{\"c\":2}]}");
    EXPECT_TRUE(splitter.closed());
  }
}

TEST(JsonArraySplitter, TopLevelObjectAndGarbage) {
  JsonArraySplitter object;
  Collect collect;
  object.feed(" {\"error\":{}} ", collect);
  ASSERT_EQ(collect.elements.size(), 1u);
  EXPECT_TRUE(object.closed());
  JsonArraySplitter garbage;
  garbage.feed("<html>", collect);
  EXPECT_TRUE(garbage.malformed());
}

TEST(JsonArraySplitter, SkipsOversizedElements) {
  JsonArraySplitter splitter(16);
  Collect collect;
  splitter.feed("[{\"a\":\"0123456789abcdef\"},{\"b\":1}]", collect);
  ASSERT_EQ(collect.elements.size(), 1u);
  EXPECT_EQ(collect.elements[0], "{\"b\":1}");
  EXPECT_EQ(splitter.skippedElements(), 1u);
}

}  // namespace
}  // namespace spendgate::core
