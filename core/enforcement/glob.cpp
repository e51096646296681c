#include "core/enforcement/glob.hpp"

namespace spendgate::core {

namespace {

constexpr std::size_t kNone = std::string_view::npos;

/** A bracket class `[...]` starting at pattern[open]. */
struct Class {
  std::size_t members = 0;  // first member
  std::size_t close = 0;    // the closing `]`
  bool negated = false;
};

/** @return the class opened at `open`, or nullopt if no `]` closes it. */
std::optional<Class> parseClass(std::string_view pattern, std::size_t open) {
  Class c;
  std::size_t i = open + 1;
  if (i < pattern.size() && (pattern[i] == '!' || pattern[i] == '^')) {
    c.negated = true;
    ++i;
  }
  c.members = i;
  // A `]` as the first member is literal, so the search for the end starts after it.
  if (i < pattern.size() && pattern[i] == ']') ++i;
  const std::size_t close = pattern.find(']', i);
  if (close == kNone) return std::nullopt;
  c.close = close;
  return c;
}

bool classContains(std::string_view pattern, const Class& c, char ch) {
  const auto byte = static_cast<unsigned char>(ch);
  bool found = false;
  for (std::size_t i = c.members; i < c.close && !found; ++i) {
    if (i + 2 < c.close && pattern[i + 1] == '-') {
      found = static_cast<unsigned char>(pattern[i]) <= byte &&
              byte <= static_cast<unsigned char>(pattern[i + 2]);
      i += 2;
    } else {
      found = pattern[i] == ch;
    }
  }
  return found != c.negated;
}

/**
 * Matches one pattern element at `p` (not `*`) against `ch`.
 * @return the position after the element, or kNone when it does not match.
 */
std::size_t matchOne(std::string_view pattern, std::size_t p, char ch) {
  const char e = pattern[p];
  if (e == '?') return p + 1;
  if (e == '[') {
    if (const auto c = parseClass(pattern, p)) {
      return classContains(pattern, *c, ch) ? c->close + 1 : kNone;
    }
  }
  return e == ch ? p + 1 : kNone;
}

}  // namespace

bool globMatch(std::string_view pattern, std::string_view text) {
  std::size_t p = 0;
  std::size_t t = 0;
  // Position after the last `*` seen and the text position it currently stands for.
  std::size_t star = kNone;
  std::size_t star_text = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = ++p;
      star_text = t;
      continue;
    }
    const std::size_t next = p < pattern.size() ? matchOne(pattern, p, text[t]) : kNone;
    if (next != kNone) {
      p = next;
      ++t;
    } else if (star != kNone) {
      // Let the last `*` swallow one more character and retry from there.
      p = star;
      t = ++star_text;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

std::optional<GlobError> globError(std::string_view pattern) {
  for (std::size_t p = 0; p < pattern.size(); ++p) {
    if (pattern[p] != '[') continue;
    const auto c = parseClass(pattern, p);
    if (!c) {
      return GlobError{p, "unclosed '[' at character " + std::to_string(p + 1) + " of glob \"" +
                              std::string(pattern) +
                              "\" (a class needs a closing ']'; a class cannot be empty)"};
    }
    for (std::size_t i = c->members; i < c->close; ++i) {
      if (i + 2 < c->close && pattern[i + 1] == '-') {
        if (static_cast<unsigned char>(pattern[i]) > static_cast<unsigned char>(pattern[i + 2])) {
          return GlobError{i, "reversed range '" + std::string(pattern.substr(i, 3)) +
                                  "' in glob \"" + std::string(pattern) + "\""};
        }
        i += 2;
      }
    }
    p = c->close;
  }
  return std::nullopt;
}

bool globIsLiteral(std::string_view pattern) {
  return pattern.find_first_of("*?[") == std::string_view::npos;
}

}  // namespace spendgate::core
