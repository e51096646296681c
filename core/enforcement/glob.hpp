#pragma once

#include <string_view>

namespace spendgate::core {

/**
 * Matches `text` against a `match:` glob: `*` is any run of characters (also none), `?` exactly
 * one character, everything else itself (case-sensitive, no escapes, no classes). The whole text
 * must match. An absent attribute is the empty text, so `*` matches it and `?*` requires one.
 * Linear in practice: greedy `*` with a single backtrack point, no recursion.
 */
bool globMatch(std::string_view pattern, std::string_view text);

}  // namespace spendgate::core
