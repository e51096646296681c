#include "core/http/canonical_path.hpp"

#include <bit>
#include <cstdint>
#include <cstring>

#include "core/text/percent_decoding.hpp"

namespace spendgate::core {

namespace {

constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
constexpr std::uint64_t kHighs = 0x8080808080808080ULL;
constexpr std::uint64_t kTopByte = 0xFF00000000000000ULL;

/** High bit set in each zero byte of `x` (and maybe in a byte above one that is). */
std::uint64_t zeroBytes(std::uint64_t x) { return (x - kOnes) & ~x & kHighs; }

/** Whether 8 path bytes (little-endian) hold a '%', or a '/' whose next byte is '/' or '.'. */
bool wordMayNeedWork(std::uint64_t word) {
  const std::uint64_t not_slash = word ^ (kOnes * '/');
  // '.' | 1 == '/' | 1 == '/': zero where the byte is '.' or '/'; moved onto the byte before it
  // (the top byte has no next byte here: the next word starts with it).
  const std::uint64_t next_not_dot_or_slash = (((word | kOnes) ^ (kOnes * '/')) >> 8) | kTopByte;
  return (zeroBytes(word ^ (kOnes * '%')) | zeroBytes(not_slash | next_not_dot_or_slash)) != 0;
}

/**
 * Whether the path may read differently once canonical: a `%`, a `//` or a `/.`. It runs on every
 * request, so it reads 8 bytes at a time (consecutive words share a byte, so every pair of bytes
 * lies in one word); a false "may" only costs the full look.
 */
bool mayNeedWork(std::string_view path) {
  const std::size_t size = path.size();
  if (size < 8 || std::endian::native != std::endian::little) {
    for (std::size_t i = 0; i < size; ++i) {
      const char c = path[i];
      if (c == '%') return true;
      if (c == '/' && i + 1 < size && (path[i + 1] == '/' || path[i + 1] == '.')) return true;
    }
    return false;
  }
  std::uint64_t word;
  for (std::size_t at = 0; at + 8 < size; at += 7) {
    std::memcpy(&word, path.data() + at, 8);
    if (wordMayNeedWork(word)) return true;
  }
  std::memcpy(&word, path.data() + size - 8, 8);  // the last 8 bytes (they may overlap)
  return wordMayNeedWork(word);
}

}  // namespace

CanonicalPath::CanonicalPath(std::string_view path) : raw_(path.substr(0, path.find('?'))) {
  // A request target has no fragment (RFC 9112 §3.2); a server that takes '#' as one reads the
  // path before it, another reads it as a name: no reading agrees, so it is refused.
  if (raw_.find('#') != std::string_view::npos) {
    fail("a '#' in the path");
  } else if (mayNeedWork(raw_)) {
    canonicalize();
  }
}

void CanonicalPath::canonicalize() {
  text_.assign(raw_);
  if (!decodeAll()) return;
  collapseSlashes();
  if (!resolveDotSegments()) return;
  rewritten_ = text_ != raw_;
}

void CanonicalPath::fail(std::string_view problem) {
  valid_ = false;
  rewritten_ = false;
  problem_ = problem;
}

bool CanonicalPath::decodeAll() {
  // Each round removes two characters per escape, so this ends.
  while (text_.find('%') != std::string::npos) {
    std::string decoded;
    decoded.reserve(text_.size());
    for (std::size_t i = 0; i < text_.size(); ++i) {
      if (text_[i] != '%') {
        decoded.push_back(text_[i]);
        continue;
      }
      const int high = i + 2 < text_.size() ? hexDigitValue(text_[i + 1]) : -1;
      const int low = high < 0 ? -1 : hexDigitValue(text_[i + 2]);
      if (low < 0) {
        fail("a '%' in the path starts no %XX escape");
        return false;
      }
      const char byte = static_cast<char>(high * 16 + low);
      if (byte == '\0' || byte == '?' || byte == '#') {
        fail("the path has a percent-encoded NUL, '?' or '#'");
        return false;
      }
      decoded.push_back(byte);
      i += 2;
    }
    text_ = std::move(decoded);
  }
  return true;
}

void CanonicalPath::collapseSlashes() {
  std::size_t out = 0;
  for (std::size_t i = 0; i < text_.size(); ++i) {
    if (text_[i] == '/' && out > 0 && text_[out - 1] == '/') continue;
    text_[out++] = text_[i];
  }
  text_.resize(out);
}

bool CanonicalPath::resolveDotSegments() {
  const bool absolute = !text_.empty() && text_.front() == '/';
  const std::string_view rest = std::string_view(text_).substr(absolute ? 1 : 0);
  std::string out = absolute ? "/" : "";
  out.reserve(text_.size());
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = rest.find('/', start);
    const bool last = slash == std::string_view::npos;
    const std::string_view segment =
        rest.substr(start, last ? std::string_view::npos : slash - start);
    if (segment == "..") {
      // `out` ends with '/' here: drop the segment before it.
      if (out.size() <= (absolute ? 1U : 0U)) {
        fail("a '..' in the path climbs above the root");
        return false;
      }
      out.pop_back();
      out.resize(out.rfind('/') == std::string::npos ? 0 : out.rfind('/') + 1);
    } else if (segment != ".") {
      out += segment;
      if (!last) out += '/';
    }
    if (last) break;
    start = slash + 1;
  }
  text_ = std::move(out);
  return true;
}

}  // namespace spendgate::core
