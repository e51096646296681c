#include "proxy/upstream/upstream_pool.hpp"

namespace spendgate::proxy {

UpstreamPool::Stack& UpstreamPool::stackFor(const std::string& pool_key) {
  if (last_stack_ != nullptr && last_key_ == pool_key) return *last_stack_;
  Stack& stack = idle_[pool_key];
  last_key_ = pool_key;
  last_stack_ = &stack;
  return stack;
}

std::unique_ptr<UpstreamConnection> UpstreamPool::acquire(const std::string& pool_key) {
  auto& stack = stackFor(pool_key);
  const auto now = std::chrono::steady_clock::now();
  while (!stack.empty()) {
    // Most recently used first: it is the least likely to have been closed by the upstream.
    auto connection = std::move(stack.back());
    stack.pop_back();
    const auto idle = now - connection->idleSince();
    const bool trusted = idle < kTrustedIdle && connection->isTls();
    if (trusted || (idle < kMaxIdle && connection->looksAlive())) return connection;
    connection->close();
  }
  return nullptr;
}

void UpstreamPool::release(std::unique_ptr<UpstreamConnection> connection) {
  auto& stack = stackFor(connection->poolKey());
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
  last_stack_ = nullptr;
}

}  // namespace spendgate::proxy
