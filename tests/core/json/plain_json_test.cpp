#include "core/json/plain_json.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <limits>

#include "core/pricing/money.hpp"

namespace spendgate::core {
namespace {

TEST(PlainJson, NumbersHaveNoExponent) {
  EXPECT_EQ(plainNumber(0.01), "0.01");
  EXPECT_EQ(plainNumber(0.008465), "0.008465");
  EXPECT_EQ(plainNumber(0.0), "0");
  EXPECT_EQ(plainNumber(0.5), "0.5");
  EXPECT_EQ(plainNumber(500.0), "500");
  EXPECT_EQ(plainNumber(-2.25), "-2.25");
  EXPECT_EQ(plainNumber(1e-12), "0.000000000001");
  EXPECT_EQ(plainNumber(1e21), "1000000000000000000000");
  EXPECT_EQ(plainNumber(std::numeric_limits<double>::quiet_NaN()), "null");
  EXPECT_EQ(plainNumber(std::numeric_limits<double>::infinity()), "null");
}

TEST(PlainJson, SerializesLikeBoostExceptDoubles) {
  const auto value = boost::json::parse(
      R"({"a":[1,-2,18446744073709551615,true,null,"x\"y\n"],"b":{"c":1E-2,"d":8.465E-3},"e":0E0})");
  const std::string text = serializePlain(value);
  EXPECT_EQ(text,
            R"({"a":[1,-2,18446744073709551615,true,null,"x\"y\n"],"b":{"c":0.01,"d":0.008465},)"
            R"("e":0})");
  const auto back = boost::json::parse(text);
  EXPECT_EQ(back.at("a"), value.at("a"));
  EXPECT_EQ(back.at("b"), value.at("b"));
  EXPECT_EQ(back.at("e").to_number<double>(), 0.0);  // a whole double reads back as an integer
}

TEST(PlainJson, MoneyFromPicodollarsIsExact) {
  // toUsd() is the nearest double to the exact decimal, so the shortest spelling is that decimal.
  EXPECT_EQ(plainNumber(toUsd(8'465'000'000)), formatUsd(8'465'000'000));
  EXPECT_EQ(plainNumber(toUsd(100'000'000'000'001)), "100.000000000001");
  EXPECT_EQ(plainNumber(toUsd(4095'999'999'999'999)), "4095.999999999999");
  EXPECT_EQ(plainNumber(toUsd(1)), "0.000000000001");
}

}  // namespace
}  // namespace spendgate::core
