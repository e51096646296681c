#include "core/store/store_keys.hpp"

#include "core/enforcement/planner.hpp"

namespace spendgate::core {

std::string StoreKeys::reservation(std::string_view id) const {
  return prefix_ + "rsv:" + escapeKeyPart(id);
}

std::string StoreKeys::leaseSequence(std::string_view instance) const {
  return prefix_ + "lease:" + escapeKeyPart(instance);
}

std::string StoreKeys::planKey(std::string_view key) const {
  if (key.substr(0, prefix_.size()) == prefix_) key.remove_prefix(prefix_.size());
  return std::string(key);
}

}  // namespace spendgate::core
