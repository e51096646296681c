#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config_loader.hpp"
#include "tests/config/config_test_util.hpp"

namespace spendgate::config {
namespace {

using ::testing::ElementsAre;
using testing::errorsOf;
using testing::load;

// YAML 1.1 merge keys, as docker-compose and Kubernetes users write them: one budget as the
// template of the next.
TEST(YamlMergeKey, MergedKeysFillWhatTheMappingDoesNotWrite) {
  const LoadResult r = load(
      "budgets:\n"
      "  - &team { name: a, scope: team, period: week, limit_usd: 10, mode: soft }\n"
      "  - { <<: *team, name: b, limit_usd: 20 }\n");
  ASSERT_TRUE(r.config.has_value()) << ::testing::PrintToString(r.errors);
  ASSERT_EQ(r.config->budgets.size(), 2u);
  const BudgetConfig& b = r.config->budgets[1];
  EXPECT_EQ(b.name, "b");
  EXPECT_EQ(b.limit_usd, 20);  // written: wins over the merged 10
  EXPECT_EQ(b.scope, Scope::Team);
  EXPECT_EQ(b.period, Period::Week);
  EXPECT_EQ(b.mode, BudgetConfig::Mode::Soft);
}

TEST(YamlMergeKey, AnEarlierMergedMappingWinsOverALaterOne) {
  const LoadResult r = load(
      "budgets:\n"
      "  - &one { name: a, limit_usd: 1, period: day }\n"
      "  - &two { name: b, limit_usd: 2, period: month }\n"
      "  - <<: [*two, *one]\n"
      "    name: c\n");
  ASSERT_TRUE(r.config.has_value()) << ::testing::PrintToString(r.errors);
  ASSERT_EQ(r.config->budgets.size(), 3u);
  EXPECT_EQ(r.config->budgets[2].name, "c");
  EXPECT_EQ(r.config->budgets[2].limit_usd, 2);
  EXPECT_EQ(r.config->budgets[2].period, Period::Month);
}

TEST(YamlMergeKey, MergesNest) {
  const LoadResult r = load(
      "budgets:\n"
      "  - &one { name: a, limit_usd: 1, mode: soft }\n"
      "  - &two { <<: *one, name: b, period: week }\n"
      "  - { <<: *two, name: c }\n");
  ASSERT_TRUE(r.config.has_value()) << ::testing::PrintToString(r.errors);
  ASSERT_EQ(r.config->budgets.size(), 3u);
  EXPECT_EQ(r.config->budgets[2].mode, BudgetConfig::Mode::Soft);
  EXPECT_EQ(r.config->budgets[2].period, Period::Week);
  EXPECT_EQ(r.config->budgets[2].limit_usd, 1);
}

TEST(YamlMergeKey, AMergedUnknownKeyIsReportedWhereItIsWritten) {
  EXPECT_THAT(errorsOf("budgets:\n"
                       "  - &t { name: a, limit_usd: 1, colour: red }\n"
                       "  - { <<: *t, name: b }\n"),
              ElementsAre("cfg.yaml:2:33: unknown key 'colour' in budgets[0]",
                          "cfg.yaml:2:33: unknown key 'colour' in budgets[1]"));
}

TEST(YamlMergeKey, AMergeKeyNeedsMappings) {
  EXPECT_THAT(errorsOf("server:\n  <<: 3\n"),
              ElementsAre("cfg.yaml:2:7: merge key '<<' in server needs a mapping or a list of "
                          "mappings (e.g. <<: *defaults)"));
  EXPECT_THAT(errorsOf("server:\n  <<: [{ threads: 2 }, 3]\n"),
              ElementsAre("cfg.yaml:2:7: merge key '<<' in server needs a mapping or a list of "
                          "mappings (e.g. <<: *defaults)"));
}

TEST(YamlMergeKey, AQuotedKeyIsAnOrdinaryKey) {
  EXPECT_THAT(errorsOf("server:\n  '<<': { threads: 2 }\n"),
              ElementsAre("cfg.yaml:2:3: unknown key '<<' in server"));
}

TEST(YamlMergeKey, TwoMergeKeysInOneMappingAreADuplicateKey) {
  // Like any other key (audit 12: the second one passed `check`); several merge as a list.
  EXPECT_THAT(errorsOf("budgets:\n"
                       "  - &one { name: a, limit_usd: 1 }\n"
                       "  - &two { name: b, limit_usd: 2, period: month }\n"
                       "  - <<: *one\n"
                       "    <<: *two\n"
                       "    name: c\n"),
              ElementsAre("cfg.yaml:5:5: duplicate key '<<' in budgets[2] (first at line 4; merge "
                          "several as <<: [*a, *b])"));
}

TEST(YamlMergeKey, AMappingThatMergesItselfIsAnErrorNotACrash) {
  // yaml-cpp resolves `*a` inside the mapping anchored `&a` to that mapping: a cycle.
  EXPECT_THAT(
      errorsOf("server: &a\n  <<: *a\n  threads: 2\n"),
      ElementsAre("cfg.yaml:1:9: merge key '<<' in server merges a mapping that merges it"));
  EXPECT_THAT(errorsOf("budgets:\n  - &a { name: x, limit_usd: 1, <<: [*a] }\n"),
              ElementsAre("cfg.yaml:2:5: merge key '<<' in budgets[0] merges a mapping that "
                          "merges it"));
}

TEST(YamlMergeKey, MergesThatDoubleAtEachLevelStopAtALimit) {
  // &l1 merges *l0 twice, &l2 merges *l1 twice...: 2^40 merged mappings read in 40 lines.
  std::string yaml = "budgets:\n  - &l0 { name: a, limit_usd: 1 }\n";
  for (int i = 1; i <= 40; ++i) {
    yaml += "  - &l" + std::to_string(i) + " { <<: [*l" + std::to_string(i - 1) + ", *l" +
            std::to_string(i - 1) + "], name: b" + std::to_string(i) + " }\n";
  }
  const std::vector<std::string> errors = errorsOf(yaml);
  // The merges cut short leave later budgets without their limit: reported too, after it.
  ASSERT_FALSE(errors.empty());
  EXPECT_EQ(errors[0], "cfg.yaml:2:5: merge keys expand to more than 10000 merged mappings");
}

}  // namespace
}  // namespace spendgate::config
