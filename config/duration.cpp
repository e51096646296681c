#include "config/duration.hpp"

#include <charconv>
#include <cstdint>

namespace spendgate::config {

namespace {

struct Unit {
  std::string_view suffix;
  int64_t millis;
};

// Longest suffix first so that "ms" is not read as "m".
constexpr Unit kUnits[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000},
};

}  // namespace

std::optional<Millis> parseDuration(std::string_view text) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0) return std::nullopt;
  const std::string_view suffix = text.substr(digits);
  for (const Unit& unit : kUnits) {
    if (suffix != unit.suffix) continue;
    int64_t count = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + digits, count);
    if (ec != std::errc() || end != text.data() + digits) return std::nullopt;
    if (count > kMaxDuration.count() / unit.millis) return std::nullopt;
    return Millis(count * unit.millis);
  }
  return std::nullopt;
}

std::string formatDuration(Millis duration) {
  const int64_t ms = duration.count();
  if (ms == 0) return "0s";
  for (auto it = std::rbegin(kUnits); it != std::rend(kUnits); ++it) {
    if (ms % it->millis == 0) return std::to_string(ms / it->millis) + std::string(it->suffix);
  }
  return std::to_string(ms) + "ms";
}

}  // namespace spendgate::config
