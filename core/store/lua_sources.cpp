#include "core/store/lua_sources.hpp"

// Generated at configure time from core/store/lua/*.lua (regenerated when one changes).
#include "spendgate/lua_sources.hpp"

namespace spendgate::core {

std::string_view admitLuaSource() { return lua::kAdmitLua; }
std::string_view settleLuaSource() { return lua::kSettleLua; }
std::string_view budgetsLuaSource() { return lua::kBudgetsLua; }
std::string_view reconcileLuaSource() { return lua::kReconcileLua; }
std::string_view leaseLuaSource() { return lua::kLeaseLua; }

}  // namespace spendgate::core
