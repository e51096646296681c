#pragma once

#include <string>
#include <string_view>

namespace spendgate::core {

/**
 * @return `text` with every byte sequence that is not well-formed UTF-8 (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF) replaced by U+FFFD, one per maximal invalid
 * prefix as the Unicode standard recommends; valid text comes back unchanged.
 *
 * Callers' header values and URL paths may carry any byte from 0x80 up; once such a value names a
 * subject (a team, a model) it ends up in the ledger, admin JSON and Prometheus labels, which must
 * be UTF-8: a single invalid byte would make the ledger line unreadable on replay and the whole
 * metrics scrape fail.
 */
std::string validUtf8(std::string_view text);

/** @return true when `text` is well-formed UTF-8 (an ASCII string always is). */
bool isValidUtf8(std::string_view text);

}  // namespace spendgate::core
