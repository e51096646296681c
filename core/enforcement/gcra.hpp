#pragma once

#include <cstdint>
#include <optional>

// The Generic Cell Rate Algorithm, in integer form, shared by MemoryCounterStore and mirrored
// line for line by core/store/lua/admit.lua and settle.lua (see docs/enforcement.md).
//
// A limit of R units per minute is a bucket of capacity R x 60000 "level units" that drains R
// units per millisecond; one request (or token) adds 60000. So a full burst of R passes at once,
// then one more every 60000/R ms: no fixed windows, no double burst at a minute edge. The level
// is kept independent of R (it counts units x 60000), so a reload that changes R keeps the state.
// Every value stays below kMaxLevel (1e15 < 2^53): exact in int64 and in Lua's doubles alike.
namespace spendgate::core::gcra {

inline constexpr std::int64_t kWindowMs = 60000;
inline constexpr std::int64_t kMaxLevel = 1'000'000'000'000'000;
/** Rates above this are treated as this (keeps capacity x 60000 far below kMaxLevel). */
inline constexpr std::int64_t kMaxRatePerMinute = 1'000'000'000;
/** Units (tokens) of one request above this are treated as this (so units x 60000 fits). */
inline constexpr std::int64_t kMaxUnits = 10'000'000'000;

/**
 * A bucket drains from its `last` time on. When a call's clock is behind `last` (the wall clock
 * stepped back, or a replica's clock is behind another's) it drains nothing until the clock is
 * back at `last`, as a call slightly out of order must. Behind by more than this, the clock has
 * moved: the bucket drains from the call's now on (nextLast) instead of stalling for the whole
 * step (audit 17: a one-hour step back held a full limit for an hour).
 */
inline constexpr std::int64_t kClockStepBackMs = kWindowMs;

/** @return when the bucket drains from for a call at `now_ms`: `last_ms`, or now after a step back.
 */
std::int64_t drainsFrom(std::int64_t last_ms, std::int64_t now_ms);

/** @return the `last` a call at `now_ms` leaves: the later of drainsFrom() and now. */
std::int64_t nextLast(std::int64_t last_ms, std::int64_t now_ms);

/** @return milliseconds before the bucket drains again: drainsFrom() - now when now is behind. */
std::int64_t stalledMs(std::int64_t last_ms, std::int64_t now_ms);

/** @return `units` clamped to [0, kMaxUnits]. */
std::int64_t clampUnits(std::int64_t units);

/** @return the level after `elapsed_ms` of draining at `rate` per minute (never below 0). */
std::int64_t drain(std::int64_t level, std::int64_t elapsed_ms, std::int64_t rate);

/** @return `level + delta_units x 60000`, clamped to [0, kMaxLevel]. */
std::int64_t add(std::int64_t level, std::int64_t delta_units);

/**
 * @return milliseconds until `units` more fit under `rate` (0 = now), or nullopt when they never
 * will (more units than the whole per-minute capacity).
 */
std::optional<std::int64_t> waitMs(std::int64_t level, std::int64_t units, std::int64_t rate);

/** @return whole units that would pass right now. */
std::int64_t remaining(std::int64_t level, std::int64_t rate);

/** @return milliseconds until the bucket is empty again (the full limit is available). */
std::int64_t resetMs(std::int64_t level, std::int64_t rate);

}  // namespace spendgate::core::gcra
