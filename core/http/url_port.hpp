#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace spendgate::core {

/**
 * The port of a URL's authority, from its text (Boost.URL's `url.port()`): 1 to 65535, decimal
 * digits only. Boost.URL 1.81's `port_number()` keeps only the low 16 bits ("84337" is 18801), so
 * a typo in a port would send traffic, and the provider key injected into it, to another one.
 * @return nullopt for "", "0", anything above 65535 or any other character.
 */
std::optional<std::uint16_t> urlPort(std::string_view digits);

}  // namespace spendgate::core
