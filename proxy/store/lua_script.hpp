#pragma once

#include <memory>
#include <string>

namespace spendgate::proxy {

/**
 * A Lua script for EVALSHA: the source plus its SHA1 (lower-case hex, as Redis computes it),
 * computed once at construction. Copies are cheap (shared, immutable state), so a copy can ride
 * along with a pending call for the NOSCRIPT fallback.
 */
class LuaScript {
public:
  explicit LuaScript(std::string source);

  const std::string& source() const { return state_->source; }
  const std::string& sha1() const { return state_->sha1; }

private:
  struct State {
    std::string source;
    std::string sha1;
  };
  std::shared_ptr<const State> state_;
};

}  // namespace spendgate::proxy
