#include "core/ledger/ledger_line_parser.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <limits>
#include <string>

#include "core/pricing/money.hpp"
#include "tests/core/manual_clock.hpp"

namespace spendgate::core {
namespace {

using testing::utc;

LedgerEntry sample() {
  LedgerEntry e;
  e.ts = utc(2026, 11, 23, 5, 17, 50, 123);
  e.request_id = "req_1";
  e.provider = "openai";
  e.model = "gpt-4o-mini-2024-07-18";
  e.requested_model = "gpt-4o-mini";
  e.key = "fp_0123456789ab";
  e.user = "al\"ice\n\\ \x01 é";
  e.team = "search";
  e.customer = "acme";
  e.agent = "crawler";
  e.status = 200;
  e.stream = true;
  e.input_tokens = 1486;
  e.cached_input_tokens = 1408;
  e.cache_write_tokens = 7;
  e.output_tokens = 651;
  e.reasoning_tokens = 512;
  // 1234567.890123456789 USD: a double holds ~16 digits, so this only survives if read exactly.
  e.cost_picousd = 1'234'567'890'123'456'789;
  e.price_source = "catalog:exact-request";
  e.usage_source = "estimated";
  e.latency_ms = 12.345;
  e.upstream_ms = 10;
  return e;
}

TEST(LedgerLineParser, ReadsBackEveryFieldToJsonLineWrites) {
  const LedgerEntry e = sample();
  const auto parsed = parseLedgerLine(toJsonLine(e));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->ts, e.ts);
  EXPECT_EQ(parsed->request_id, e.request_id);
  EXPECT_EQ(parsed->provider, e.provider);
  EXPECT_EQ(parsed->model, e.model);
  EXPECT_EQ(parsed->requested_model, e.requested_model);
  EXPECT_EQ(parsed->key, e.key);
  EXPECT_EQ(parsed->user, e.user);
  EXPECT_EQ(parsed->team, e.team);
  EXPECT_EQ(parsed->customer, e.customer);
  EXPECT_EQ(parsed->agent, e.agent);
  EXPECT_EQ(parsed->status, 200);
  EXPECT_TRUE(parsed->stream);
  EXPECT_EQ(parsed->input_tokens, 1486);
  EXPECT_EQ(parsed->cached_input_tokens, 1408);
  EXPECT_EQ(parsed->cache_write_tokens, 7);
  EXPECT_EQ(parsed->output_tokens, 651);
  EXPECT_EQ(parsed->reasoning_tokens, 512);
  EXPECT_EQ(parsed->cost_picousd, e.cost_picousd);
  EXPECT_EQ(parsed->price_source, e.price_source);
  EXPECT_EQ(parsed->usage_source, e.usage_source);
  EXPECT_DOUBLE_EQ(parsed->latency_ms, 12.345);
  EXPECT_DOUBLE_EQ(parsed->upstream_ms, 10);
}

TEST(LedgerLineParser, CostsRoundTripExactly) {
  for (const Picodollars cost :
       {Picodollars{0}, Picodollars{1}, Picodollars{507'900'000}, kPicodollarsPerUsd,
        Picodollars{999'999'999'999}, std::numeric_limits<Picodollars>::max()}) {
    LedgerEntry e = sample();
    e.cost_picousd = cost;
    const auto parsed = parseLedgerLine(toJsonLine(e));
    ASSERT_TRUE(parsed) << cost;
    EXPECT_EQ(parsed->cost_picousd, cost);
  }
}

TEST(LedgerLineParser, OnlyTsAndCostAreRequiredAndUnknownFieldsAreIgnored) {
  const auto parsed = parseLedgerLine(
      R"({"ts":"2026-11-23T00:00:00Z","cost_usd":0.5,"later_field":{"a":[1,2]},"model":"m"})");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->ts, utc(2026, 11, 23));
  EXPECT_EQ(parsed->cost_picousd, kPicodollarsPerUsd / 2);
  EXPECT_EQ(parsed->model, "m");
  EXPECT_EQ(parsed->key, "");
}

TEST(LedgerLineParser, WrongTypesOfOptionalFieldsKeepTheirDefaults) {
  const auto parsed = parseLedgerLine(
      R"({"ts":"2026-11-23T00:00:00Z","cost_usd":1,"status":"ok","input_tokens":1.5,)"
      R"("key":7,"user":null,"stream":"yes","output_tokens":3})");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->status, 0);
  EXPECT_EQ(parsed->input_tokens, 0);
  EXPECT_EQ(parsed->key, "");
  EXPECT_EQ(parsed->user, "");
  EXPECT_FALSE(parsed->stream);
  EXPECT_EQ(parsed->output_tokens, 3);
}

TEST(LedgerLineParser, RefusesMalformedLines) {
  const char* const lines[] = {
      "",
      "not json",
      "[1,2]",
      R"("just a string")",
      R"({"ts":"2026-11-23T00:00:00Z","cost_usd":1)",                   // torn
      R"({"ts":"2026-11-23T00:00:00Z","cost_usd":1}{"ts":"x"})",        // two values
      R"({"cost_usd":1})",                                              // no ts
      R"({"ts":"2026-11-23T00:00:00Z"})",                               // no cost
      R"({"ts":"yesterday","cost_usd":1})",                             // bad ts
      R"({"ts":"2026-02-30T00:00:00Z","cost_usd":1})",                  // no such day
      R"({"ts":1795411070,"cost_usd":1})",                              // ts not a string
      R"({"ts":"2026-11-23T00:00:00Z","cost_usd":"1"})",                // cost a string
      R"({"ts":"2026-11-23T00:00:00Z","cost_usd":null})",               // cost null
      R"({"ts":"2026-11-23T00:00:00Z","cost_usd":1e-3})",               // not formatUsd's form
      R"({"ts":"2026-11-23T00:00:00Z","cost_usd":0.0000000000001})",    // 13 decimals
      R"({"ts":"2026-11-23T00:00:00Z","cost_usd":99999999999})",        // beyond int64 pUSD
      R"({"ts":"2026-11-23T00:00:00Z","cost_usd":1,"cost_usd":true})",  // last one wins
  };
  for (const char* line : lines) EXPECT_FALSE(parseLedgerLine(line)) << line;
}

TEST(LedgerLineParser, ToleratesTheTrailingNewline) {
  EXPECT_TRUE(parseLedgerLine("{\"ts\":\"2026-11-23T00:00:00Z\",\"cost_usd\":1}\n"));
  EXPECT_TRUE(parseLedgerLine("{\"ts\":\"2026-11-23T00:00:00Z\",\"cost_usd\":1}\r\n"));
}

TEST(Rfc3339, ParsesWhatFormatWritesAndOffsets) {
  const auto t = utc(2024, 2, 29, 23, 59, 59, 7);
  EXPECT_EQ(parseRfc3339(formatRfc3339(t)), t);
  EXPECT_EQ(parseRfc3339("1970-01-01T00:00:00Z"), utc(1970, 1, 1));
  EXPECT_EQ(parseRfc3339("2026-11-23T01:30:00+01:30"), utc(2026, 11, 23));
  EXPECT_EQ(parseRfc3339("2026-11-22T23:00:00.999999-01:00"), utc(2026, 11, 23, 0, 0, 0, 999));
  EXPECT_EQ(parseRfc3339("2026-11-23t00:00:00.5z"), utc(2026, 11, 23, 0, 0, 0, 500));
  for (const char* bad : {"2026-11-23", "2026-11-23T00:00:00", "2026-13-01T00:00:00Z",
                          "2026-11-23T24:00:00Z", "2026-11-23T00:00:00.Z", "2026-11-23T00:00:00Z ",
                          "2025-02-29T00:00:00Z", "2026-11-23T00:00Z"}) {
    EXPECT_FALSE(parseRfc3339(bad)) << bad;
  }
}

// Found by fuzzing (tests/fuzz/ledger_line_parser_fuzz.cpp): four-digit years reach past what
// system_clock holds (nanoseconds on libstdc++: 1677..2262), and the conversion overflowed
// (undefined behaviour; in practice a wrapped, wrong time that replay then charged).
TEST(Rfc3339, RefusesTimesSystemClockCannotHold) {
  for (const char* beyond : {"3000-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z",
                             "1600-01-01T00:00:00Z", "0000-01-01T00:00:00+01:00"}) {
    EXPECT_FALSE(parseRfc3339(beyond)) << beyond;
    EXPECT_FALSE(parseLedgerLine(std::string(R"({"ts":")") + beyond + R"(","cost_usd":1})"))
        << beyond;
  }
  EXPECT_EQ(parseRfc3339("2261-12-31T23:59:59.999Z"), utc(2261, 12, 31, 23, 59, 59, 999));
  EXPECT_EQ(parseRfc3339("1678-01-01T00:00:00Z"), utc(1678, 1, 1));
}

TEST(ParseUsd, ExactDecimalsAsFormatUsdWritesThem) {
  EXPECT_EQ(parseUsd("0.0125"), 12'500'000'000);
  EXPECT_EQ(parseUsd("10"), 10 * kPicodollarsPerUsd);
  EXPECT_EQ(parseUsd("-3"), -3 * kPicodollarsPerUsd);
  EXPECT_EQ(parseUsd("0.000000000001"), 1);
  for (const Picodollars v :
       {Picodollars{0}, Picodollars{123456789}, Picodollars{-42},
        std::numeric_limits<Picodollars>::max(), std::numeric_limits<Picodollars>::min()}) {
    EXPECT_EQ(parseUsd(formatUsd(v)), v) << formatUsd(v);
  }
  for (const char* bad : {"", "-", ".5", "1.", "1e3", "0.0000000000001", "+1", "1 ", "9223373",
                          "9223372.036854775808"}) {
    EXPECT_FALSE(parseUsd(bad)) << bad;
  }
}

}  // namespace
}  // namespace spendgate::core
