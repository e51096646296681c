#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace spendgate::config {

/** Either a valid config (errors empty) or every problem found (config empty). */
struct LoadResult {
  std::optional<Config> config;
  std::vector<std::string> errors;  // "FILE:LINE:COL: message", 1-based, ordered by position
};

/**
 * Reads and validates a config file. A missing or unreadable file gives the single error
 * "PATH: cannot read: <reason>". An empty file gives defaultConfig().
 */
LoadResult loadConfigFile(const std::string& path);

/**
 * Validates YAML text. `source_name` is the FILE in error messages and becomes Config::source.
 * Unknown keys, bad types and values, and cross-field conflicts are all reported together.
 */
LoadResult loadConfigString(const std::string& yaml, const std::string& source_name);

/**
 * Virtual key ids that name other callers in the ledger, the budgets and the spend report, so a
 * virtual key may not take them (it would share their counters): `anonymous` (a passthrough
 * call that sent no key) and `fp_` + 12 lowercase hex digits (a passthrough key's fingerprint).
 * @return why `id` is reserved, or nullopt when it is free
 */
std::optional<std::string> reservedVirtualKeyId(std::string_view id);

}  // namespace spendgate::config
