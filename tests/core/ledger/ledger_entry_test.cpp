#include "core/ledger/ledger_entry.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "core/pricing/money.hpp"

namespace spendgate::core {
namespace {

TEST(LedgerEntryTest, OneJsonObjectPerLineWithEverySpecField) {
  LedgerEntry e;
  e.ts = std::chrono::system_clock::time_point(std::chrono::milliseconds(1795411070123));
  e.request_id = "req_1";
  e.provider = "openai";
  e.model = "gpt-4o-mini-2024-07-18";
  e.requested_model = "gpt-4o-mini";
  e.key = "fp_0123456789ab";
  e.user = "al\"ice\n";
  e.status = 200;
  e.stream = true;
  e.input_tokens = 1486;
  e.cached_input_tokens = 1408;
  e.output_tokens = 651;
  e.reasoning_tokens = 512;
  // (1486-1408)*0.15 + 1408*0.075 + 651*0.60 micro-USD = 11.7 + 105.6 + 390.6 = 507.9 micro-USD
  e.cost_picousd = 507'900'000;
  e.price_source = "catalog:exact-request";
  e.usage_source = "provider";
  e.latency_ms = 12.3456;
  e.upstream_ms = 10;

  const std::string line = toJsonLine(e);
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);  // the escaped newline stays escaped
  auto json = boost::json::parse(line).as_object();
  for (auto field : {"ts",
                     "request_id",
                     "provider",
                     "model",
                     "requested_model",
                     "key",
                     "user",
                     "team",
                     "customer",
                     "agent",
                     "status",
                     "stream",
                     "input_tokens",
                     "cached_input_tokens",
                     "cache_write_tokens",
                     "output_tokens",
                     "reasoning_tokens",
                     "cost_usd",
                     "price_source",
                     "usage_source",
                     "latency_ms",
                     "upstream_ms"}) {
    EXPECT_TRUE(json.contains(field)) << field;
  }
  EXPECT_EQ(json.size(), 22u);
  EXPECT_EQ(json["ts"].as_string(), "2026-11-23T05:17:50.123Z");
  EXPECT_EQ(json["user"].as_string(), "al\"ice\n");
  EXPECT_NE(line.find("\"cost_usd\":0.0005079,"), std::string::npos) << line;
  EXPECT_NE(line.find("\"latency_ms\":12.346,"), std::string::npos) << line;
  EXPECT_EQ(json["stream"].as_bool(), true);
}

TEST(LedgerEntryTest, ControlCharactersAreEscaped) {
  LedgerEntry e;
  e.team = std::string(
      "a\tb\x01"
      "c\\d",
      7);
  const std::string line = toJsonLine(e);
  EXPECT_NE(line.find(R"("team":"a\tb\u0001c\\d")"), std::string::npos) << line;
  EXPECT_EQ(boost::json::parse(line).at("team").as_string(), e.team);
}

// ---- Byte-for-byte against the original (slow) serializer ----------------------------------

namespace reference {

// The serializer as it was before the fast path: the output must not change by one byte.
void appendEscaped(std::string& out, std::string_view value) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::size_t clean = 0;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c != '"' && c != '\\' && static_cast<unsigned char>(c) >= 0x20) continue;
    out.append(value.substr(clean, i - clean));
    clean = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += "\\u00";
        out += kHex[(c >> 4) & 0xf];
        out += kHex[c & 0xf];
    }
  }
  out.append(value.substr(clean));
}

void appendString(std::string& out, std::string_view key, std::string_view value) {
  out += '"';
  out += key;
  out += "\":\"";
  appendEscaped(out, value);
  out += "\",";
}

void appendRaw(std::string& out, std::string_view key, std::string_view raw) {
  out += '"';
  out += key;
  out += "\":";
  out += raw;
  out += ',';
}

std::string formatMillis(double ms) {
  const auto micros = static_cast<std::int64_t>(ms < 0 ? 0 : ms * 1000.0 + 0.5);
  std::string fraction = std::to_string(micros % 1000);
  return std::to_string(micros / 1000) + "." + std::string(3 - fraction.size(), '0') + fraction;
}

std::string padded(long value, std::size_t width) {
  std::string text = std::to_string(value);
  return std::string(width > text.size() ? width - text.size() : 0, '0') + text;
}

std::string formatRfc3339(std::chrono::system_clock::time_point time) {
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
  // Seconds rounded down: the original truncated toward zero, which wrote times before the epoch
  // as "1970-01-01T00:00:00.-01Z" (fixed, see PreEpochTimesAreRfc3339).
  const std::time_t seconds = static_cast<std::time_t>(
      std::chrono::floor<std::chrono::seconds>(std::chrono::milliseconds(millis)).count());
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  return padded(utc.tm_year + 1900, 4) + "-" + padded(utc.tm_mon + 1, 2) + "-" +
         padded(utc.tm_mday, 2) + "T" + padded(utc.tm_hour, 2) + ":" + padded(utc.tm_min, 2) + ":" +
         padded(utc.tm_sec, 2) + "." + padded(static_cast<long>((millis % 1000 + 1000) % 1000), 3) +
         "Z";
}

std::string formatUsd(std::int64_t amount) {
  std::string sign = amount < 0 ? "-" : "";
  const auto magnitude = amount < 0 ? static_cast<std::uint64_t>(-(amount + 1)) + 1
                                    : static_cast<std::uint64_t>(amount);
  const std::uint64_t per = 1'000'000'000'000;
  std::string frac = std::to_string(magnitude % per);
  frac.insert(0, 12 - frac.size(), '0');
  while (!frac.empty() && frac.back() == '0') frac.pop_back();
  std::string out = sign + std::to_string(magnitude / per);
  if (!frac.empty()) out += "." + frac;
  return out;
}

std::string toJsonLine(const LedgerEntry& e) {
  std::string out = "{";
  appendString(out, "ts", formatRfc3339(e.ts));
  appendString(out, "request_id", e.request_id);
  appendString(out, "provider", e.provider);
  appendString(out, "model", e.model);
  appendString(out, "requested_model", e.requested_model);
  appendString(out, "key", e.key);
  appendString(out, "user", e.user);
  appendString(out, "team", e.team);
  appendString(out, "customer", e.customer);
  appendString(out, "agent", e.agent);
  appendRaw(out, "status", std::to_string(e.status));
  appendRaw(out, "stream", e.stream ? "true" : "false");
  appendRaw(out, "input_tokens", std::to_string(e.input_tokens));
  appendRaw(out, "cached_input_tokens", std::to_string(e.cached_input_tokens));
  appendRaw(out, "cache_write_tokens", std::to_string(e.cache_write_tokens));
  appendRaw(out, "output_tokens", std::to_string(e.output_tokens));
  appendRaw(out, "reasoning_tokens", std::to_string(e.reasoning_tokens));
  appendRaw(out, "cost_usd", formatUsd(e.cost_picousd));
  appendString(out, "price_source", e.price_source);
  appendString(out, "usage_source", e.usage_source);
  appendRaw(out, "latency_ms", formatMillis(e.latency_ms));
  appendRaw(out, "upstream_ms", formatMillis(e.upstream_ms));
  out.back() = '}';
  out += '\n';
  return out;
}

}  // namespace reference

std::chrono::system_clock::time_point atMillis(std::int64_t millis) {
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(millis));
}

LedgerEntry sampleEntry() {
  LedgerEntry e;
  e.ts = atMillis(1795411070123);
  e.request_id = "req_01JDXYZ";
  e.provider = "openai";
  e.model = "gpt-4o-mini-2024-07-18";
  e.requested_model = "gpt-4o-mini";
  e.key = "fp_0123456789ab";
  e.user = "alice";
  e.team = "search";
  e.customer = "acme";
  e.agent = "crawler";
  e.status = 200;
  e.input_tokens = 20;
  e.output_tokens = 10;
  e.cost_picousd = 9'000'000;
  e.price_source = "catalog:exact";
  e.usage_source = "provider";
  e.latency_ms = 1.25;
  e.upstream_ms = 0.75;
  return e;
}

TEST(LedgerEntryTest, EveryByteValueIsWrittenAsBefore) {
  // Control characters, quotes, backslash, DEL, and bytes >= 0x80 (valid and invalid UTF-8
  // alike pass through untouched: the ledger does not validate, it escapes).
  std::string all;
  for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  LedgerEntry e = sampleEntry();
  for (std::string* field :
       {&e.request_id, &e.provider, &e.model, &e.requested_model, &e.key, &e.user, &e.team,
        &e.customer, &e.agent, &e.price_source, &e.usage_source}) {
    *field = all;
  }
  EXPECT_EQ(toJsonLine(e), reference::toJsonLine(e));
}

TEST(LedgerEntryTest, EscapesAtTheEdgesOfStrings) {
  for (const std::string& value :
       {std::string(), std::string("\""), std::string("\\"), std::string("\"\"\\\\"),
        std::string("\x1f"
                    "abc\x01"),
        std::string("abc\n"), std::string("\nabc"), std::string("a\r\nb\tc"),
        std::string("\0\0", 2), std::string(1000, '\x02'),
        std::string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), std::string("\xff\xfe\xc3"),
        std::string("\x7f"), std::string(5000, 'x') + "\"" + std::string(5000, 'y')}) {
    LedgerEntry e = sampleEntry();
    e.user = value;
    e.usage_source = value;
    const std::string line = toJsonLine(e);
    EXPECT_EQ(line, reference::toJsonLine(e));
    EXPECT_EQ(line.find('\n'), line.size() - 1);
  }
}

TEST(LedgerEntryTest, RandomStringsAreEscapedAsBefore) {
  // Every length up to 80 with escapable bytes at every position (the fast scan works in blocks
  // of 16 and 8 bytes, so the edges of those blocks matter).
  std::uint64_t seed = 0x9e3779b97f4a7c15ULL;
  const auto next = [&seed] {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed;
  };
  constexpr char kAlphabet[] = {'a',    'Z',    '0',    ' ',    '"',    '\\', '\n', '\x01', '\x1f',
                                '\x7f', '\x80', '\xc3', '\xa9', '\xff', '!',  '#',  '~',    '\t'};
  for (int round = 0; round < 3000; ++round) {
    std::string value(next() % 81, 'x');
    const bool sparse = round % 2 == 0;
    for (char& c : value) {
      if (!sparse || next() % 17 == 0) c = kAlphabet[next() % sizeof kAlphabet];
    }
    LedgerEntry e = sampleEntry();
    e.request_id = value;
    e.model = value + value;
    ASSERT_EQ(toJsonLine(e), reference::toJsonLine(e)) << round;
  }
}

TEST(LedgerEntryTest, CleanValuesAfterALineFullOfEscapesAreWrittenAsBefore) {
  // A value is copied first and then checked for bytes to escape in whole 16-byte blocks of the
  // line's buffer, which is reused from line to line: the bytes after a copy are the previous
  // line's (here quotes, backslashes and control bytes) and must not count.
  LedgerEntry dirty = sampleEntry();
  const std::string escapes = std::string(300, '"') + std::string(300, '\\') +
                              std::string(300, '\x01') + std::string(300, '\n');
  for (std::string* field :
       {&dirty.request_id, &dirty.provider, &dirty.model, &dirty.requested_model, &dirty.key,
        &dirty.user, &dirty.team, &dirty.customer, &dirty.agent, &dirty.price_source,
        &dirty.usage_source}) {
    *field = escapes;
  }
  for (std::size_t length = 0; length <= 40; ++length) {
    ASSERT_EQ(toJsonLine(dirty), reference::toJsonLine(dirty));
    LedgerEntry clean = sampleEntry();
    const std::string value(length, 'v');
    for (std::string* field :
         {&clean.request_id, &clean.provider, &clean.model, &clean.requested_model, &clean.key,
          &clean.user, &clean.team, &clean.customer, &clean.agent, &clean.price_source,
          &clean.usage_source}) {
      *field = value;
    }
    ASSERT_EQ(toJsonLine(clean), reference::toJsonLine(clean)) << length;
    // One byte to escape at each position of the value, the rest clean.
    for (std::size_t at = 0; at < length; ++at) {
      std::string one = value;
      one[at] = at % 2 == 0 ? '"' : '\x1f';
      clean.user = one;
      clean.agent = one;
      ASSERT_EQ(toJsonLine(clean), reference::toJsonLine(clean)) << length << " " << at;
      ASSERT_EQ(toJsonLine(dirty), reference::toJsonLine(dirty));
    }
  }
}

TEST(LedgerEntryTest, NonAsciiUtf8RoundTrips) {
  LedgerEntry e = sampleEntry();
  e.user = "Zo\xc3\xab \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80";
  const std::string line = toJsonLine(e);
  EXPECT_NE(line.find("\"user\":\"" + e.user + "\""), std::string::npos) << line;
  EXPECT_EQ(boost::json::parse(line).at("user").as_string(), e.user);
}

TEST(LedgerEntryTest, ALineOfViewsIsWrittenAsItsEntry) {
  // The proxy writes its line from views of the request's own strings (LedgerLine): the views end
  // where their strings end, with more text right after them, never at a terminating NUL.
  const LedgerEntry e = sampleEntry();
  const std::string text = e.request_id + e.provider + e.model + e.requested_model + e.key +
                           e.user + e.team + e.customer + e.agent + e.price_source +
                           e.usage_source + "\"tail\\";
  std::string_view rest = text;
  const auto take = [&rest](const std::string& field) {
    const std::string_view view = rest.substr(0, field.size());
    rest.remove_prefix(field.size());
    return view;
  };
  LedgerLine line = lineOf(e);
  line.request_id = take(e.request_id);
  line.provider = take(e.provider);
  line.model = take(e.model);
  line.requested_model = take(e.requested_model);
  line.key = take(e.key);
  line.user = take(e.user);
  line.team = take(e.team);
  line.customer = take(e.customer);
  line.agent = take(e.agent);
  line.price_source = take(e.price_source);
  line.usage_source = take(e.usage_source);
  const std::string expected = reference::toJsonLine(e);
  EXPECT_EQ(toJsonLine(line, reference::formatUsd(e.cost_picousd)), expected);
  EXPECT_EQ(toJsonLine(e), expected);
  EXPECT_EQ(toJsonLine(e, reference::formatUsd(e.cost_picousd)), expected);
  // A cost that cannot be formatUsd's (too long) is formatted again, as for an entry.
  EXPECT_EQ(toJsonLine(line, std::string(200, '9')), expected);
}

TEST(LedgerEntryTest, LargeAndNegativeNumbersAreWrittenAsBefore) {
  constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
  constexpr auto kMin = std::numeric_limits<std::int64_t>::min();
  for (const std::int64_t n :
       {std::int64_t{0}, std::int64_t{1}, std::int64_t{-1}, std::int64_t{999'999'999'999},
        std::int64_t{1'000'000'000'000}, std::int64_t{1'000'000'000'001},
        std::int64_t{123'456'789'012'345}, kMax, kMin, kMin + 1}) {
    LedgerEntry e = sampleEntry();
    e.status = static_cast<int>(n % 1000);
    e.input_tokens = n;
    // -n without signed overflow (kMin negates to itself).
    e.cached_input_tokens = static_cast<std::int64_t>(0u - static_cast<std::uint64_t>(n));
    e.cache_write_tokens = n / 7;
    e.output_tokens = n;
    e.reasoning_tokens = n;
    e.cost_picousd = n;
    EXPECT_EQ(toJsonLine(e), reference::toJsonLine(e)) << n;
  }
  LedgerEntry e = sampleEntry();
  e.status = std::numeric_limits<int>::min();
  EXPECT_EQ(toJsonLine(e), reference::toJsonLine(e));
  e.cost_picousd = kMax;
  EXPECT_NE(toJsonLine(e).find("\"cost_usd\":9223372.036854775807,"), std::string::npos);
}

TEST(LedgerEntryTest, SmallNumbersAreWrittenAsBefore) {
  // Numbers below 1000 are written digit by digit, the rest by to_chars: both sides of each edge.
  for (std::int64_t n = -20; n <= 1100; ++n) {
    LedgerEntry e = sampleEntry();
    e.status = static_cast<int>(n);
    e.input_tokens = n;
    e.cached_input_tokens = 1100 - n;
    e.cache_write_tokens = n * 7;
    e.output_tokens = n / 3;
    e.reasoning_tokens = -n;
    ASSERT_EQ(toJsonLine(e), reference::toJsonLine(e)) << n;
  }
}

TEST(LedgerEntryTest, CostDecimalsAreTrimmedAsBefore) {
  for (const std::int64_t cost :
       {std::int64_t{1}, std::int64_t{10}, std::int64_t{100'000'000'000},
        std::int64_t{120'000'000'000}, std::int64_t{500'000'000'000}, std::int64_t{507'900'000},
        std::int64_t{2'000'000'000'000}, std::int64_t{2'000'000'000'010}, std::int64_t{-507'900},
        std::int64_t{-3'000'000'000'000}}) {
    EXPECT_EQ(formatUsd(cost), reference::formatUsd(cost)) << cost;
    LedgerEntry e = sampleEntry();
    e.cost_picousd = cost;
    EXPECT_EQ(toJsonLine(e), reference::toJsonLine(e)) << cost;
    // The proxy passes the cost it already formatted for its header.
    EXPECT_EQ(toJsonLine(e, formatUsd(cost)), reference::toJsonLine(e)) << cost;
  }
}

TEST(LedgerEntryTest, CostsWithEveryNumberOfDecimalsAreWrittenAsBefore) {
  // Each count of trailing zeros, each decimal digit, whole dollars and the extremes.
  std::vector<std::int64_t> costs = {0, std::numeric_limits<std::int64_t>::max(),
                                     std::numeric_limits<std::int64_t>::min()};
  for (std::int64_t scale = 1; scale <= 10'000'000'000'000; scale *= 10) {
    for (const std::int64_t digit : {1, 5, 9, 10, 99, 123'456}) {
      costs.push_back(digit * scale);
      costs.push_back(-digit * scale);
      costs.push_back(digit * scale + 7);
    }
  }
  std::mt19937_64 random(7);
  for (int i = 0; i < 10'000; ++i) costs.push_back(static_cast<std::int64_t>(random() >> (i % 64)));
  for (const std::int64_t cost : costs) {
    EXPECT_EQ(formatUsd(cost), reference::formatUsd(cost)) << cost;
  }
}

TEST(LedgerEntryTest, MillisecondsHaveThreeDecimalsAsBefore) {
  for (const double ms : {0.0, 0.0004, 0.0005, 0.001, 0.0999, 1.0, 12.3456, 999.9995, 1000.0, -1.0,
                          -0.0, 86'400'000.123, 1e12, 3.14159265}) {
    LedgerEntry e = sampleEntry();
    e.latency_ms = ms;
    e.upstream_ms = ms / 3;
    EXPECT_EQ(toJsonLine(e), reference::toJsonLine(e)) << ms;
  }
}

// Found by fuzzing (tests/fuzz/ledger_line_parser_fuzz.cpp): a duration beyond int64
// microseconds, or NaN, was converted to int64 (undefined behaviour) and written as
// "-9223372036854775.-808", which is not JSON, so the line was lost to the replay.
TEST(LedgerEntryTest, OutOfRangeMillisecondsStillWriteJson) {
  for (const double ms : {1e300, std::numeric_limits<double>::infinity(), 9.3e15,
                          std::numeric_limits<double>::quiet_NaN()}) {
    LedgerEntry e = sampleEntry();
    e.latency_ms = ms;
    e.upstream_ms = -ms;
    const std::string line = toJsonLine(e);
    boost::system::error_code ec;
    const auto doc = boost::json::parse(line, ec);
    ASSERT_FALSE(ec) << ms << ": " << line;
    const double written = doc.at("latency_ms").to_number<double>();
    EXPECT_EQ(written, std::isnan(ms) ? 0.0 : 9223372036854775.807) << ms;
    EXPECT_EQ(doc.at("upstream_ms").to_number<double>(), 0.0) << ms;
  }
}

TEST(LedgerEntryTest, TimestampsMatchGmtimeIncludingLeapYears) {
  constexpr std::int64_t kDay = 86'400'000;
  std::vector<std::int64_t> millis = {
      0,
      1,
      999,
      1000,
      kDay - 1,
      951'782'400'000,      // 2000-02-29 (divisible by 400: leap)
      951'868'799'999,      // 2000-02-29T23:59:59.999
      4'107'542'400'000,    // 2100-03-01 (2100 is not a leap year)
      4'107'455'999'999,    // 2100-02-28T23:59:59.999
      1'709'164'800'000,    // 2024-02-29
      1'735'689'599'999,    // 2024-12-31T23:59:59.999
      1'795'411'070'123,    // 2026-11-23T05:17:50.123
      253'402'300'799'999,  // 9999-12-31T23:59:59.999
      253'402'300'800'000,  // 10000-01-01: slow path
      -1,                   // before the epoch: slow path
      -86'400'001,
  };
  // Every day boundary of several years around leap days, at a few times of day.
  for (std::int64_t day = 10'957; day < 10'957 + 3 * 366; day += 1) {  // 2000-01-01 ..
    millis.push_back(day * kDay);
    millis.push_back(day * kDay + 43'200'007);
  }
  for (std::int64_t day = 47'482; day < 47'482 + 2 * 366; day += 3) {  // 2100-01-01 ..
    millis.push_back(day * kDay + 3'599'999);
  }
  for (std::int64_t m = 0; m < 300'000'000'000'000; m += 7'777'777'777'777) millis.push_back(m);
  // system_clock counts nanoseconds on libstdc++ (years 1678..2262): a time outside that range
  // cannot be made (the conversion overflows, undefined behaviour), so it is skipped there.
  constexpr std::int64_t kMaxMillis = std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::duration::max())
                                          .count();
  for (const auto m : millis) {
    if (m > kMaxMillis || m < -kMaxMillis) continue;
    EXPECT_EQ(formatRfc3339(atMillis(m)), reference::formatRfc3339(atMillis(m))) << m;
    LedgerEntry e = sampleEntry();
    e.ts = atMillis(m);
    EXPECT_EQ(toJsonLine(e), reference::toJsonLine(e)) << m;
  }
  EXPECT_EQ(formatRfc3339(atMillis(951'782'400'000 + 3'723'004)), "2000-02-29T01:02:03.004Z");
}

TEST(LedgerEntryTest, TimesInTheSameSecondAsTheLastOneAreWrittenAsBefore) {
  // The date and time of day are kept for the thread's last second and copied for a time in the
  // same one: times in the same, the next, an earlier and a far second, in any order, and the
  // slow path between them, must each be written as computed afresh.
  const std::int64_t base = 1'795'411'070'000;  // 2026-11-23T05:17:50
  const std::int64_t kDay = 86'400'000;
  for (const std::int64_t m : {base,
                               base + 1,
                               base + 999,
                               base + 1000,
                               base + 999,
                               base,
                               base - 1,
                               base - 1000,
                               base + 123,
                               base + kDay + 123,
                               base + 123,
                               std::int64_t{0},
                               std::int64_t{999},
                               std::int64_t{1000},
                               std::int64_t{-500},
                               std::int64_t{500},
                               base + 5,
                               base + 5,
                               base + 59'999,
                               base + 60'000,
                               base + 3'600'000,
                               base + 3'599'999,
                               base - kDay,
                               base}) {
    EXPECT_EQ(formatRfc3339(atMillis(m)), reference::formatRfc3339(atMillis(m))) << m;
    LedgerEntry e = sampleEntry();
    e.ts = atMillis(m);
    EXPECT_EQ(toJsonLine(e), reference::toJsonLine(e)) << m;
  }
}

// Found by fuzzing (tests/fuzz/ledger_line_parser_fuzz.cpp): a time before 1970 that is not a
// whole second was written as "1970-01-01T00:00:00.-500Z", which parseRfc3339 (and so the ledger
// replay) refuses.
TEST(LedgerEntryTest, PreEpochTimesAreRfc3339) {
  EXPECT_EQ(formatRfc3339(atMillis(-500)), "1969-12-31T23:59:59.500Z");
  EXPECT_EQ(formatRfc3339(atMillis(-1)), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(formatRfc3339(atMillis(-86'400'000)), "1969-12-31T00:00:00.000Z");
  for (const std::int64_t m : {-1LL, -999LL, -1000LL, -1001LL, -9'183'110'399'999LL}) {
    EXPECT_EQ(parseRfc3339(formatRfc3339(atMillis(m))), atMillis(m)) << m;
  }
}

TEST(LedgerEntryTest, SubMillisecondTimesAreTruncated) {
  using namespace std::chrono;
  const auto t = system_clock::time_point(milliseconds(1795411070123)) + microseconds(999);
  EXPECT_EQ(formatRfc3339(t), "2026-11-23T05:17:50.123Z");
  EXPECT_EQ(formatRfc3339(t), reference::formatRfc3339(t));
}

}  // namespace
}  // namespace spendgate::core
