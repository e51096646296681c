#pragma once

#include <string>
#include <string_view>

namespace spendgate::core {

/** @return the value of a hex digit (either case), or -1 for any other character. */
int hexDigitValue(char c);

/**
 * @return the text with its %XX sequences decoded (a malformed one stays as it is), as a provider
 *         decodes query parameter names and values
 */
std::string percentDecoded(std::string_view text);

}  // namespace spendgate::core
