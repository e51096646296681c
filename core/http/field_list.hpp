#pragma once

#include <string_view>

namespace spendgate::core {

/** `s` with the blanks (SP, HTAB) around it removed (RFC 9110 §5.6.3, OWS). */
std::string_view withoutBlanks(std::string_view s);

/** @return true when `s` equals `lower` (a lower-case token) in any ASCII case. */
bool equalsToken(std::string_view s, std::string_view lower);

/**
 * Calls `each(element)` for every element of a comma-separated field value, blanks around it
 * removed; empty elements are skipped, as RFC 9110 §5.6.1 has a recipient do.
 */
template <typename Each>
void forEachListElement(std::string_view list, Each&& each) {
  while (true) {
    const auto comma = list.find(',');
    const std::string_view element = withoutBlanks(list.substr(0, comma));
    if (!element.empty()) each(element);
    if (comma == std::string_view::npos) return;
    list.remove_prefix(comma + 1);
  }
}

}  // namespace spendgate::core
