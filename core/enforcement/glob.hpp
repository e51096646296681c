#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace spendgate::core {

/**
 * Matches `text` against a `match:` glob, shell style, byte by byte and case-sensitive:
 *   `*`        any run of characters (also none)
 *   `?`        exactly one character
 *   `[abc]`    one of the listed characters; `[a-z]` a range; `[!a-z]` or `[^a-z]` any character
 *              not listed; a `]` right after `[` (or `[!`) is itself a member, and so is a `-`
 *              first or last
 *   anything else  itself (there are no escapes)
 * The whole text must match. An absent attribute is the empty text, so `*` matches it and `?*`
 * requires one. Linear in practice: greedy `*` with a single backtrack point, no recursion.
 * Patterns come from a validated config (globError); an unclosed `[` here is a literal `[`.
 */
bool globMatch(std::string_view pattern, std::string_view text);

/** @return whether `pattern` has no wildcard or class, so it matches exactly itself. */
bool globIsLiteral(std::string_view pattern);

/** A malformed pattern: what is wrong and at which byte of the pattern. */
struct GlobError {
  std::size_t offset = 0;
  std::string message;
};

/**
 * @return why `pattern` is not a valid glob (unclosed `[`, reversed range such as `[z-a]`), or
 * nullopt when it is. Config loading refuses such patterns: silently matching `[` literally
 * would disable a budget.
 */
std::optional<GlobError> globError(std::string_view pattern);

}  // namespace spendgate::core
