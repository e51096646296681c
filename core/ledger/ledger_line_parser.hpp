#pragma once

#include <optional>
#include <string_view>

#include "core/ledger/ledger_entry.hpp"

namespace spendgate::core {

/**
 * Reads one ledger line (SPEC §6, as toJsonLine writes it; a trailing '\n' is allowed) back
 * into an entry, for the memory store's replay at start-up. One pass with Boost.JSON's
 * basic_parser, no document. `cost_usd` is read from its decimal text, exactly to the
 * picodollar (a double would drift); `ts` is RFC 3339.
 * @return nullopt when the line is not one JSON object, or lacks a valid `ts` or `cost_usd`.
 *         Other fields that are missing or of the wrong type keep their defaults; unknown
 *         fields are ignored (a later version may add some).
 */
std::optional<LedgerEntry> parseLedgerLine(std::string_view line);

}  // namespace spendgate::core
