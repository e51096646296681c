#include "core/pricing/price_catalog.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <utility>

namespace spendgate::core {
namespace {

ModelPrice priced(Picodollars input) {
  ModelPrice price;
  price.rates.input = input;
  return price;
}

Picodollars inputRate(const PriceCatalog& catalog, std::string_view model) {
  const auto found = catalog.find(model);
  return found ? found->second->rates.input : -1;
}

// Each thread remembers its last look-up (per catalog generation): no answer may outlive a change
// of the catalog, or leak from one catalog (or copy) to another.
TEST(PriceCatalog, RememberedLookUpsFollowEveryChange) {
  PriceCatalog catalog;
  EXPECT_EQ(inputRate(catalog, "m"), -1);  // remembered as missing...
  catalog.set("m", priced(1));
  EXPECT_EQ(inputRate(catalog, "m"), 1);  // ...until set() adds it
  EXPECT_EQ(inputRate(catalog, "m"), 1);
  catalog.set("m", priced(2));
  EXPECT_EQ(inputRate(catalog, "m"), 2);

  PriceCatalog copy = catalog;
  copy.set("m", priced(3));
  EXPECT_EQ(inputRate(catalog, "m"), 2);
  EXPECT_EQ(inputRate(copy, "m"), 3);
  EXPECT_EQ(inputRate(catalog, "m"), 2);

  PriceCatalog other;
  other.set("m", priced(4));
  EXPECT_EQ(inputRate(other, "m"), 4);
  other = catalog;
  EXPECT_EQ(inputRate(other, "m"), 2);
  EXPECT_EQ(inputRate(catalog, "m"), 2);
  PriceCatalog moved = std::move(copy);
  EXPECT_EQ(inputRate(moved, "m"), 3);
  EXPECT_EQ(inputRate(copy, "m"), -1);  // NOLINT(bugprone-use-after-move): emptied by the move
  {
    PriceCatalog gone;
    gone.set("m", priced(5));
    EXPECT_EQ(inputRate(gone, "m"), 5);
  }
  PriceCatalog fresh;  // may take the place of `gone`: must not see its entry
  EXPECT_EQ(inputRate(fresh, "m"), -1);
  EXPECT_EQ(inputRate(catalog, "n"), -1);
  EXPECT_EQ(inputRate(catalog, "m"), 2);
}

TEST(PriceCatalog, EachThreadRemembersItsOwnLookUp) {
  PriceCatalog catalog;
  catalog.set("a", priced(1));
  catalog.set("b", priced(2));
  for (int round = 0; round < 3; ++round) {
    std::thread other([&] {
      for (int i = 0; i < 1000; ++i) EXPECT_EQ(inputRate(catalog, "b"), 2);
    });
    for (int i = 0; i < 1000; ++i) EXPECT_EQ(inputRate(catalog, "a"), 1);
    other.join();
  }
}

}  // namespace
}  // namespace spendgate::core
