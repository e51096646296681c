// One contract, several stores: every scenario (tests/core/store/counter_store_contract.hpp)
// runs against MemoryCounterStore and against the Lua scripts on a real redis-server (skipped
// when redis-server is not installed). The leasing store: tests/proxy/store.

#include "tests/core/store/counter_store_contract.hpp"

namespace spendgate::core::testing {

ContractStore makeContractStore(const std::string& kind, ManualClock&) {
  return ContractStore{.owner = nullptr, .store = makeStore(kind)};
}

namespace {

INSTANTIATE_TEST_SUITE_P(Stores,
                         CounterStoreContract,
                         ::testing::Values("memory", "redis"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace spendgate::core::testing
