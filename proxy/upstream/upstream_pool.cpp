#include "proxy/upstream/upstream_pool.hpp"

namespace spendgate::proxy {

std::unique_ptr<UpstreamConnection> UpstreamPool::acquire(const std::string& pool_key) {
  auto found = idle_.find(pool_key);
  if (found == idle_.end()) return nullptr;
  auto& stack = found->second;
  const auto now = std::chrono::steady_clock::now();
  while (!stack.empty()) {
    // Most recently used first: it is the least likely to have been closed by the upstream.
    auto connection = std::move(stack.back());
    stack.pop_back();
    const auto idle = now - connection->idleSince();
    if (idle < kTrustedIdle || (idle < kMaxIdle && connection->looksAlive())) return connection;
    connection->close();
  }
  return nullptr;
}

void UpstreamPool::release(std::unique_ptr<UpstreamConnection> connection) {
  auto& stack = idle_[connection->poolKey()];
  if (stack.size() >= kMaxIdlePerOrigin) {
    connection->close();
    return;
  }
  connection->markIdle();
  stack.push_back(std::move(connection));
}

void UpstreamPool::clear() {
  for (auto& [key, stack] : idle_) {
    for (auto& connection : stack) connection->close();
  }
  idle_.clear();
}

}  // namespace spendgate::proxy
