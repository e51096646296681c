#include "core/ledger/ledger_entry.hpp"

#include <charconv>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/pricing/money.hpp"
#include "core/text/short_copy.hpp"

namespace spendgate::core {

namespace {

// The ledger line runs once per request, so it is written by hand into one buffer sized up
// front: no serializer, no temporary strings, no locale.

/** JSON string escaping needs nothing for bytes >= 0x20 other than '"' and '\\'. */
constexpr bool needsEscape(unsigned char c) { return c < 0x20 || c == '"' || c == '\\'; }

/** Worst case of escaping: every byte becomes "\u00XX". */
constexpr std::size_t kEscapeFactor = 6;

char* put(char* p, std::string_view text) {
  std::memcpy(p, text.data(), text.size());
  return p + text.size();
}

/** @return the first byte in [s, end) that needs escaping, or end. */
const char* cleanRunEnd(const char* s, const char* end) {
#if defined(__SSE2__)
  // Sixteen bytes at a time: a byte needs escaping when it is '"', '\\' or below 0x20.
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i high_bits = _mm_set1_epi8(static_cast<char>(0xE0));
  const __m128i zero = _mm_setzero_si128();
  while (end - s >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s));
    const __m128i hits =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                     _mm_cmpeq_epi8(_mm_and_si128(v, high_bits), zero));
    const int mask = _mm_movemask_epi8(hits);
    if (mask != 0) return s + __builtin_ctz(static_cast<unsigned>(mask));
    s += 16;
  }
#endif
  // Then eight at a time (exact tests: any byte < 0x20, any '"', any '\\').
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHighs = 0x8080808080808080ULL;
  while (end - s >= 8) {
    std::uint64_t x;
    std::memcpy(&x, s, 8);
    const std::uint64_t quote = x ^ (kOnes * '"');
    const std::uint64_t backslash = x ^ (kOnes * '\\');
    const std::uint64_t hits =
        ((x - kOnes * 0x20) & ~x) | ((quote - kOnes) & ~quote) | ((backslash - kOnes) & ~backslash);
    if ((hits & kHighs) != 0) break;  // the byte-wise loop finds which one
    s += 8;
  }
  while (s != end && !needsEscape(static_cast<unsigned char>(*s))) ++s;
  return s;
}

/**
 * Bytes past the end of what toJsonLine writes that its buffer always has: putEscaped's first
 * scan reads whole 16-byte blocks of the copy it has just written (never writes past it).
 */
constexpr std::size_t kScanSlack = 16;

/**
 * Writes `value` escaped, from its first byte that needs escaping on (or all of it without the
 * SSE2 fast path below); out of line, since nearly every value needs none.
 */
[[gnu::noinline]] char* putEscapedRest(char* p, std::string_view value);

/**
 * Writes `value` escaped. Inlined into the line's writer: most values need no escaping, and
 * then this is a copy and a scan, no call.
 */
[[gnu::always_inline]] inline char* putEscaped(char* p, std::string_view value) {
#if defined(__SSE2__)
  // Copy the value first, then look for a byte that needs escaping in the copy, sixteen bytes
  // at a time. The last block may reach past the copy into the buffer (kScanSlack): those bytes
  // are masked off. No such byte: done. Else the bytes before the first one stay written and
  // putEscapedRest goes on from there.
  const std::size_t n = value.size();
  copyShort(p, value.data(), n);
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i high_bits = _mm_set1_epi8(static_cast<char>(0xE0));
  const __m128i zero = _mm_setzero_si128();
  for (std::size_t i = 0; i < n; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    const __m128i hits =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                     _mm_cmpeq_epi8(_mm_and_si128(v, high_bits), zero));
    unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(hits));
    if (n - i < 16) mask &= (1u << (n - i)) - 1;
    if (mask != 0) {
      const std::size_t clean = i + static_cast<std::size_t>(__builtin_ctz(mask));
      return putEscapedRest(p + clean, value.substr(clean));
    }
  }
  return p + n;
#else
  return putEscapedRest(p, value);
#endif
}

char* putEscapedRest(char* p, std::string_view value) {
  static constexpr char kHex[] = "0123456789abcdef";
  const char* s = value.data();
  const char* const end = s + value.size();
  while (s != end) {
    // Copy the run of clean bytes in one go.
    const char* run = cleanRunEnd(s, end);
    std::memcpy(p, s, static_cast<std::size_t>(run - s));
    p += run - s;
    if (run == end) break;
    const char c = *run;
    *p++ = '\\';
    switch (c) {
      case '"':
        *p++ = '"';
        break;
      case '\\':
        *p++ = '\\';
        break;
      case '\n':
        *p++ = 'n';
        break;
      case '\r':
        *p++ = 'r';
        break;
      case '\t':
        *p++ = 't';
        break;
      default:
        *p++ = 'u';
        *p++ = '0';
        *p++ = '0';
        *p++ = kHex[(c >> 4) & 0xf];
        *p++ = kHex[c & 0xf];
    }
    s = run + 1;
  }
  return p;
}

/** `prefix` is the literal before the value, e.g. `,"model":"`; the closing quote follows. */
[[gnu::always_inline]] inline char* putString(char* p,
                                              std::string_view prefix,
                                              std::string_view value) {
  p = put(p, prefix);
  p = putEscaped(p, value);
  *p++ = '"';
  return p;
}

template <typename Int>
[[gnu::always_inline]] inline char* putInt(char* p, std::string_view prefix, Int value) {
  p = put(p, prefix);
  // Most numbers of a line are small (the status, a few tokens, zeros): up to three digits
  // written directly, the rest through to_chars (the same digits).
  if (value >= 0 && value < 1000) {
    const auto v = static_cast<unsigned>(value);
    if (v < 10) {
      *p++ = static_cast<char>('0' + v);
    } else if (v < 100) {
      p[0] = static_cast<char>('0' + v / 10);
      p[1] = static_cast<char>('0' + v % 10);
      p += 2;
    } else {
      p[0] = static_cast<char>('0' + v / 100);
      p[1] = static_cast<char>('0' + v / 10 % 10);
      p[2] = static_cast<char>('0' + v % 10);
      p += 3;
    }
    return p;
  }
  return std::to_chars(p, p + 24, value).ptr;
}

/** Writes `value` as exactly `width` decimal digits (0 <= value < 10^width). */
char* putDigits(char* p, unsigned value, int width) {
  for (int i = width - 1; i >= 0; --i) {
    p[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  return p + width;
}

char* putMillis(char* p, std::string_view prefix, double ms) {
  p = put(p, prefix);
  // Negative and NaN read as 0, and beyond int64 microseconds as the largest: converting such a
  // double to int64 is undefined (it wrote "-9223372036854775.-808", not JSON, on x86).
  const double scaled = ms > 0 ? ms * 1000.0 + 0.5 : 0.0;
  const auto micros = scaled < 9.2e18 ? static_cast<std::int64_t>(scaled)
                                      : std::numeric_limits<std::int64_t>::max();
  p = std::to_chars(p, p + 24, micros / 1000).ptr;
  *p++ = '.';
  return putDigits(p, static_cast<unsigned>(micros % 1000), 3);
}

constexpr std::size_t kMaxMillisChars = 32;

std::string padded(long value, std::size_t width) {
  std::string text = std::to_string(value);
  return std::string(width > text.size() ? width - text.size() : 0, '0') + text;
}

/** The gmtime_r + to_string spelling, kept for times this file's fast path does not cover. */
std::string formatRfc3339Slow(std::int64_t millis) {
  // Rounded down: 1 ms before the epoch is 23:59:59.999 of the day before.
  std::int64_t whole = millis / 1000;
  std::int64_t fraction = millis % 1000;
  if (fraction < 0) {
    fraction += 1000;
    --whole;
  }
  const std::time_t seconds = static_cast<std::time_t>(whole);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  return padded(utc.tm_year + 1900, 4) + "-" + padded(utc.tm_mon + 1, 2) + "-" +
         padded(utc.tm_mday, 2) + "T" + padded(utc.tm_hour, 2) + ":" + padded(utc.tm_min, 2) + ":" +
         padded(utc.tm_sec, 2) + "." + padded(static_cast<long>(fraction), 3) + "Z";
}

/** Milliseconds of 10000-01-01T00:00:00Z: the fast path covers [1970, 9999]. */
constexpr std::int64_t kYear10000Millis = 253402300800000;

/** "YYYY-MM-DDTHH:MM:SS.mmmZ": 24 chars. */
constexpr std::size_t kRfc3339Chars = 24;

/**
 * Writes the RFC 3339 form of `millis` (since the epoch, 0 <= millis < kYear10000Millis).
 * The civil date is Howard Hinnant's civil_from_days.
 */
char* putRfc3339Computed(char* p, std::int64_t millis) {
  const auto total_seconds = static_cast<std::uint64_t>(millis / 1000);
  const auto days = static_cast<std::uint64_t>(total_seconds / 86400);
  const auto second_of_day = static_cast<unsigned>(total_seconds % 86400);

  const std::uint64_t z = days + 719468;
  const std::uint64_t era = z / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);                    // [0, 146096]
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                // [0, 365]
  const unsigned mp = (5 * doy + 2) / 153;                                     // [0, 11]
  const unsigned day = doy - (153 * mp + 2) / 5 + 1;                           // [1, 31]
  const unsigned month = mp < 10 ? mp + 3 : mp - 9;                            // [1, 12]
  const auto year = static_cast<unsigned>(yoe + era * 400 + (month <= 2 ? 1 : 0));

  p = putDigits(p, year, 4);
  *p++ = '-';
  p = putDigits(p, month, 2);
  *p++ = '-';
  p = putDigits(p, day, 2);
  *p++ = 'T';
  p = putDigits(p, second_of_day / 3600, 2);
  *p++ = ':';
  p = putDigits(p, second_of_day / 60 % 60, 2);
  *p++ = ':';
  p = putDigits(p, second_of_day % 60, 2);
  *p++ = '.';
  p = putDigits(p, static_cast<unsigned>(millis % 1000), 3);
  *p++ = 'Z';
  return p;
}

/** "YYYY-MM-DDThh:mm:ss", the part of the text that is the same for a whole second. */
constexpr std::size_t kRfc3339SecondChars = 19;

/**
 * putRfc3339Computed, the date and time of day copied from this thread's last second when
 * `millis` falls in the same one (a ledger line is written for every request: mostly the same
 * second as the one before).
 */
char* putRfc3339(char* p, std::int64_t millis) {
  struct LastSecond {
    std::int64_t second = -1;
    char text[kRfc3339Chars];
  };
  thread_local LastSecond last;
  const std::int64_t second = millis / 1000;
  if (second != last.second) {
    putRfc3339Computed(last.text, second * 1000);
    last.second = second;
  }
  std::memcpy(p, last.text, kRfc3339SecondChars);
  p += kRfc3339SecondChars;
  *p++ = '.';
  p = putDigits(p, static_cast<unsigned>(millis % 1000), 3);
  *p++ = 'Z';
  return p;
}

std::int64_t unixMillisOf(std::chrono::system_clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

bool fastRfc3339(std::int64_t millis) { return millis >= 0 && millis < kYear10000Millis; }

}  // namespace

std::string formatRfc3339(std::chrono::system_clock::time_point time) {
  const std::int64_t millis = unixMillisOf(time);
  if (!fastRfc3339(millis)) return formatRfc3339Slow(millis);
  char buffer[kRfc3339Chars];
  return std::string(buffer, putRfc3339(buffer, millis));
}

namespace {

/** Reads `n` decimal digits at text[pos]; @return nullopt when one is not a digit. */
std::optional<int> digitsAt(std::string_view text, std::size_t pos, std::size_t n) {
  if (pos + n > text.size()) return std::nullopt;
  int value = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    value = value * 10 + (text[i] - '0');
  }
  return value;
}

/** Days since 1970-01-01 of a civil date (Howard Hinnant's days_from_civil). */
std::int64_t daysFromCivil(int year, unsigned month, unsigned day) {
  year -= month <= 2 ? 1 : 0;
  const int era = (year >= 0 ? year : year - 399) / 400;
  const auto yoe = static_cast<unsigned>(year - era * 400);
  const unsigned doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return static_cast<std::int64_t>(era) * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool leapYear(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

}  // namespace

std::optional<std::chrono::system_clock::time_point> parseRfc3339(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS
  const auto year = digitsAt(text, 0, 4);
  const auto month = digitsAt(text, 5, 2);
  const auto day = digitsAt(text, 8, 2);
  const auto hour = digitsAt(text, 11, 2);
  const auto minute = digitsAt(text, 14, 2);
  const auto second = digitsAt(text, 17, 2);
  if (!year || !month || !day || !hour || !minute || !second || text[4] != '-' || text[7] != '-' ||
      (text[10] != 'T' && text[10] != 't') || text[13] != ':' || text[16] != ':') {
    return std::nullopt;
  }
  static constexpr int kMonthDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (*month < 1 || *month > 12 || *day < 1 ||
      *day > kMonthDays[*month - 1] + (*month == 2 && leapYear(*year) ? 1 : 0) || *hour > 23 ||
      *minute > 59 || *second > 60) {
    return std::nullopt;
  }
  std::size_t pos = 19;
  std::int64_t millis = 0;
  if (pos < text.size() && text[pos] == '.') {
    std::size_t digits = 0;
    for (++pos; pos < text.size() && text[pos] >= '0' && text[pos] <= '9'; ++pos, ++digits) {
      if (digits < 3) millis = millis * 10 + (text[pos] - '0');
    }
    if (digits == 0) return std::nullopt;
    for (; digits < 3; ++digits) millis *= 10;
  }
  std::int64_t offset_minutes = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    const auto off_hour = digitsAt(text, pos + 1, 2);
    const auto off_minute = digitsAt(text, pos + 4, 2);
    if (!off_hour || !off_minute || text[pos + 3] != ':' || *off_hour > 23 || *off_minute > 59) {
      return std::nullopt;
    }
    offset_minutes = (*off_hour * 60 + *off_minute) * (text[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != text.size()) return std::nullopt;
  const std::int64_t seconds =
      daysFromCivil(*year, static_cast<unsigned>(*month), static_cast<unsigned>(*day)) * 86400 +
      *hour * 3600 + *minute * 60 + *second - offset_minutes * 60;
  // system_clock may not reach every year 0000..9999 (libstdc++ counts nanoseconds: 1677..2262);
  // converting a time beyond its range would overflow.
  constexpr std::int64_t kMaxMillis = std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::duration::max())
                                          .count();
  const std::int64_t total = seconds * 1000 + millis;
  if (total > kMaxMillis || total < -kMaxMillis) return std::nullopt;
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::milliseconds(total)));
}

LedgerLine lineOf(const LedgerEntry& entry) {
  return LedgerLine{.ts = entry.ts,
                    .request_id = entry.request_id,
                    .provider = entry.provider,
                    .model = entry.model,
                    .requested_model = entry.requested_model,
                    .key = entry.key,
                    .user = entry.user,
                    .team = entry.team,
                    .customer = entry.customer,
                    .agent = entry.agent,
                    .status = entry.status,
                    .stream = entry.stream,
                    .input_tokens = entry.input_tokens,
                    .cached_input_tokens = entry.cached_input_tokens,
                    .cache_write_tokens = entry.cache_write_tokens,
                    .output_tokens = entry.output_tokens,
                    .reasoning_tokens = entry.reasoning_tokens,
                    .cost_picousd = entry.cost_picousd,
                    .price_source = entry.price_source,
                    .usage_source = entry.usage_source,
                    .latency_ms = entry.latency_ms,
                    .upstream_ms = entry.upstream_ms};
}

std::string toJsonLine(const LedgerEntry& e) {
  char cost_usd[kMaxUsdChars];
  return toJsonLine(lineOf(e), std::string_view(cost_usd, formatUsdTo(cost_usd, e.cost_picousd)));
}

std::string toJsonLine(const LedgerEntry& e, std::string_view cost_usd) {
  return toJsonLine(lineOf(e), cost_usd);
}

std::string toJsonLine(const LedgerLine& e, std::string_view cost_usd) {
  if (cost_usd.size() > kMaxUsdChars) {  // not formatUsd's: the bound fails
    char own[kMaxUsdChars];
    return toJsonLine(e, std::string_view(own, formatUsdTo(own, e.cost_picousd)));
  }
  const std::int64_t millis = unixMillisOf(e.ts);
  const bool fast_ts = fastRfc3339(millis);
  const std::string slow_ts = fast_ts ? std::string() : formatRfc3339Slow(millis);

  // Everything but the strings has a fixed upper bound; strings at worst grow sixfold.
  constexpr std::size_t kFixed = 512 + 7 * 24 + kMaxUsdChars + 2 * kMaxMillisChars;
  const std::size_t strings = e.request_id.size() + e.provider.size() + e.model.size() +
                              e.requested_model.size() + e.key.size() + e.user.size() +
                              e.team.size() + e.customer.size() + e.agent.size() +
                              e.price_source.size() + e.usage_source.size() + slow_ts.size();
  // Written into a per-thread scratch buffer sized for the worst case, then copied into a string
  // of the exact size: lines can wait in the ledger queue, so they should not carry slack. An
  // outsized line (a huge model name from a request body) gets a buffer of its own instead, so
  // the scratch stays small.
  constexpr std::size_t kMaxScratch = 64 * 1024;
  const std::size_t bound = kFixed + kEscapeFactor * strings + kScanSlack;
  thread_local std::string scratch;
  std::string outsized;
  char* begin = nullptr;
  if (bound <= kMaxScratch) {
    if (scratch.size() < bound) scratch.resize(bound);
    begin = scratch.data();
  } else {
    outsized.resize(bound);
    begin = outsized.data();
  }
  char* p = begin;

  p = put(p, R"({"ts":")");
  p = fast_ts ? putRfc3339(p, millis) : putEscaped(p, slow_ts);
  *p++ = '"';
  p = putString(p, R"(,"request_id":")", e.request_id);
  p = putString(p, R"(,"provider":")", e.provider);
  p = putString(p, R"(,"model":")", e.model);
  p = putString(p, R"(,"requested_model":")", e.requested_model);
  p = putString(p, R"(,"key":")", e.key);
  p = putString(p, R"(,"user":")", e.user);
  p = putString(p, R"(,"team":")", e.team);
  p = putString(p, R"(,"customer":")", e.customer);
  p = putString(p, R"(,"agent":")", e.agent);
  p = putInt(p, R"(,"status":)", e.status);
  p = put(p, e.stream ? R"(,"stream":true)" : R"(,"stream":false)");
  p = putInt(p, R"(,"input_tokens":)", e.input_tokens);
  p = putInt(p, R"(,"cached_input_tokens":)", e.cached_input_tokens);
  p = putInt(p, R"(,"cache_write_tokens":)", e.cache_write_tokens);
  p = putInt(p, R"(,"output_tokens":)", e.output_tokens);
  p = putInt(p, R"(,"reasoning_tokens":)", e.reasoning_tokens);
  p = put(p, R"(,"cost_usd":)");
  p = put(p, cost_usd);
  p = putString(p, R"(,"price_source":")", e.price_source);
  p = putString(p, R"(,"usage_source":")", e.usage_source);
  p = putMillis(p, R"(,"latency_ms":)", e.latency_ms);
  p = putMillis(p, R"(,"upstream_ms":)", e.upstream_ms);
  p = put(p, "}\n");
  return std::string(begin, p);
}

}  // namespace spendgate::core
