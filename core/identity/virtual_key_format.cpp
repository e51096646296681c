#include "core/identity/virtual_key_format.hpp"

namespace spendgate::core {

bool hasVirtualKeyFormat(std::string_view key) {
  if (key.size() != kVirtualKeyPrefix.size() + kVirtualKeyRandomLength ||
      !key.starts_with(kVirtualKeyPrefix)) {
    return false;
  }
  for (char c : key.substr(kVirtualKeyPrefix.size())) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum) return false;
  }
  return true;
}

}  // namespace spendgate::core
