#pragma once

#include <boost/asio/io_context.hpp>
#include <vector>

#include "config/config.hpp"
#include "core/store/counter_store.hpp"
#include "proxy/net.hpp"

namespace spendgate::proxy {

class Logger;
class RedisCounterStore;

/**
 * @return the counter store `config.kind` names: a MemoryCounterStore, or a RedisCounterStore
 * (inside a LeasingCounterStore unless `store.redis.leases: false`)
 * with one client per io_context in `loops` (the workers'; one per event-loop thread, loop 0
 * also serves admin calls and callers on other threads). Release a Redis store before the
 * loops are destroyed (see RedisCounterStore).
 */
core::CounterStorePtr makeCounterStore(const config::StoreConfig& config,
                                       std::vector<net::io_context*> loops,
                                       Logger& logger);

/** @return the Redis store of `store` (itself, or inside a LeasingCounterStore), or nullptr. */
std::shared_ptr<RedisCounterStore> redisStoreOf(const core::CounterStorePtr& store);

}  // namespace spendgate::proxy
