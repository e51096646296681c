#pragma once

#include <cstddef>
#include <string_view>

namespace spendgate::core {

/**
 * Calls visit(parameter, begin, end) for each `&`-separated parameter of `query` (the text after
 * `?`; "name=value" as sent, not decoded), [begin, end) its span in `query`, until visit returns
 * false. Empty parameters (`a&&b`, a trailing `&`) are visited too.
 */
template <class Visit>
void forEachQueryParameter(std::string_view query, Visit&& visit) {
  std::size_t pos = 0;
  while (pos < query.size()) {
    std::size_t amp = query.find('&', pos);
    if (amp == std::string_view::npos) amp = query.size();
    if (!visit(query.substr(pos, amp - pos), pos, amp)) return;
    pos = amp + 1;
  }
}

}  // namespace spendgate::core
