#include "proxy/store/counter_store_factory.hpp"

#include "core/store/memory_counter_store.hpp"
#include "proxy/logging/logger.hpp"
#include "proxy/store/leasing_counter_store.hpp"
#include "proxy/store/redis_counter_store.hpp"

namespace spendgate::proxy {

core::CounterStorePtr makeCounterStore(const config::StoreConfig& config,
                                       std::vector<net::io_context*> loops,
                                       Logger& logger) {
  switch (config.kind) {
    case config::StoreConfig::Kind::Redis: {
      const std::size_t connections = loops.size();
      auto store = RedisCounterStore::create(config.redis, loops, logger);
      logger.info("counter store: redis at " + store->redactedUrl() + " (" +
                  std::to_string(connections) + " connections, on_unavailable: " +
                  (config.redis.on_unavailable == config::RedisConfig::OnUnavailable::FailOpen
                       ? "fail_open"
                       : "fail_closed") +
                  ", leases: " + (config.redis.leases ? "on" : "off") + ")");
      if (!config.redis.leases) return store;
      return LeasingCounterStore::create(store, std::move(loops), logger);
    }
    case config::StoreConfig::Kind::Memory:
      break;
  }
  // In-process: nothing settles twice, so settled reservations are forgotten at once.
  return std::make_shared<core::MemoryCounterStore>(std::chrono::milliseconds(0));
}

std::shared_ptr<RedisCounterStore> redisStoreOf(const core::CounterStorePtr& store) {
  if (auto leasing = std::dynamic_pointer_cast<LeasingCounterStore>(store)) {
    return leasing->inner();
  }
  return std::dynamic_pointer_cast<RedisCounterStore>(store);
}

}  // namespace spendgate::proxy
