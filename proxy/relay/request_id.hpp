#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace spendgate::proxy {

/** @return a fresh request id, "req_" and 24 hex digits; unique enough to join logs and ledger. */
std::string newRequestId();
/** The same into `id` (its text replaced; no allocation once it holds one). */
void newRequestId(std::string& id);

/** The length of a request id: "req_" and 24 hex digits. */
inline constexpr std::size_t kRequestIdChars = 28;

/**
 * Writes the id of two generator draws into `out` (kRequestIdChars bytes): "req_", then the 16
 * nibbles of `a` and the low 8 of `b`, each lowest first, as lowercase hex. newRequestId's text.
 */
void formatRequestId(char* out, std::uint64_t a, std::uint64_t b);

}  // namespace spendgate::proxy
