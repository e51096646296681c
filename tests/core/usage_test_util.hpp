#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "core/metering/request_classifier.hpp"
#include "core/usage/usage_extractor.hpp"

namespace spendgate::core::testing {

/** @return the bytes of tests/fixtures/usage/<name>; fails the test if missing. */
inline std::string readFixture(const std::string& name) {
  const std::string path = std::string(SPENDGATE_SOURCE_DIR) + "/tests/fixtures/usage/" + name;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing fixture " << path;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

/** @return `text` with every LF replaced by `line_end`. */
inline std::string withLineEnds(std::string_view text, std::string_view line_end) {
  std::string out;
  for (const char c : text) {
    if (c == '\n') {
      out.append(line_end);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

/** Feeds `body` to a fresh extractor in pieces cut at `cuts` (ascending offsets). */
inline UsageResult extractWithCuts(const RequestInfo& info,
                                   std::string_view content_type,
                                   std::string_view body,
                                   const std::vector<std::size_t>& cuts,
                                   int status = 200) {
  UsageExtractor extractor(info, status, content_type);
  std::size_t from = 0;
  for (const std::size_t cut : cuts) {
    extractor.feed(body.substr(from, cut - from));
    from = cut;
  }
  extractor.feed(body.substr(from));
  return extractor.finish();
}

/** Feeds `body` in one piece. */
inline UsageResult extract(const RequestInfo& info,
                           std::string_view content_type,
                           std::string_view body,
                           int status = 200) {
  return extractWithCuts(info, content_type, body, {}, status);
}

inline constexpr std::string_view kSse = "text/event-stream; charset=utf-8";
inline constexpr std::string_view kJson = "application/json";

}  // namespace spendgate::core::testing
