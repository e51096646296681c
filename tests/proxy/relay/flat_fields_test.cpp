#include "proxy/relay/flat_fields.hpp"

#include <gtest/gtest.h>

#include <boost/beast/http/field.hpp>
#include <string>
#include <utility>
#include <vector>

namespace spendgate::proxy {
namespace {

namespace http = boost::beast::http;

// Names and values are copied into the text buffer with short copies for up to 32 bytes and
// memcpy beyond: every length on both sides, read back as added, also after clear() keeps the
// buffer (with the previous fields' bytes in it).
TEST(FlatFieldsTest, FieldsOfEveryLengthReadBackAsAdded) {
  FlatFields fields;
  for (int round = 0; round < 2; ++round) {
    fields.clear();
    std::vector<std::pair<std::string, std::string>> added;
    for (std::size_t name_size = 1; name_size <= 40; ++name_size) {
      for (std::size_t value_size = 0; value_size <= 70; value_size += 1 + name_size % 3) {
        std::string name(name_size, 'n');
        std::string value(value_size, 'v');
        for (std::size_t i = 0; i < name_size; ++i)
          name[i] = static_cast<char>('a' + (i + round) % 26);
        for (std::size_t i = 0; i < value_size; ++i)
          value[i] = static_cast<char>('0' + (i * 7 + round) % 10);
        fields.add(http::field::unknown, name, value);
        added.emplace_back(name, value);
      }
    }
    ASSERT_EQ(fields.size(), added.size());
    for (std::size_t i = 0; i < added.size(); ++i) {
      const auto field = fields.at(i);
      ASSERT_EQ(field.name_string(), added[i].first) << i;
      ASSERT_EQ(field.value(), added[i].second) << i;
    }
  }
}

}  // namespace
}  // namespace spendgate::proxy
