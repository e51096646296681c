#pragma once

#include <boost/asio/io_context.hpp>
#include <vector>

#include "config/config.hpp"
#include "core/store/counter_store.hpp"
#include "proxy/net.hpp"

namespace spendgate::proxy {

class Logger;

/**
 * @return the counter store `config.kind` names: a MemoryCounterStore, or a RedisCounterStore
 * with one client per io_context in `loops` (the workers'; one per event-loop thread, loop 0
 * also serves admin calls and callers on other threads). Release a Redis store before the
 * loops are destroyed (see RedisCounterStore).
 */
core::CounterStorePtr makeCounterStore(const config::StoreConfig& config,
                                       std::vector<net::io_context*> loops,
                                       Logger& logger);

}  // namespace spendgate::proxy
