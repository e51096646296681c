#pragma once

#include <string_view>

// The Lua scripts of the shared store, compiled into the binary from core/store/lua/*.lua (the
// build generates them into a header; see core/CMakeLists.txt), so a deployment needs no script
// files. Text only: the Redis store in proxy/ loads them with EVALSHA / EVAL.
namespace spendgate::core {

std::string_view admitLuaSource();
std::string_view settleLuaSource();
std::string_view budgetsLuaSource();
std::string_view reconcileLuaSource();
std::string_view leaseLuaSource();

}  // namespace spendgate::core
