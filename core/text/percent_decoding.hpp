#pragma once

#include <string>
#include <string_view>

namespace spendgate::core {

/**
 * @return the text with its %XX sequences decoded (a malformed one stays as it is), as a provider
 *         decodes query parameter names and values
 */
std::string percentDecoded(std::string_view text);

}  // namespace spendgate::core
