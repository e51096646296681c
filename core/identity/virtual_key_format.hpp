#pragma once

#include <cstddef>
#include <string_view>

namespace spendgate::core {

/** What `spendgate key new` prints: this prefix, then kVirtualKeyRandomLength letters/digits. */
inline constexpr std::string_view kVirtualKeyPrefix = "sk-sg-";
inline constexpr std::size_t kVirtualKeyRandomLength = 32;

/**
 * @return whether `key` has the shape of a spendgate virtual key ("sk-sg-" and 32 ASCII letters
 *         or digits), whether or not any config lists it
 */
bool hasVirtualKeyFormat(std::string_view key);

}  // namespace spendgate::core
