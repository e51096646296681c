#pragma once

#include <string>

namespace spendgate::proxy {

/** @return a fresh request id, "req_" and 24 hex digits; unique enough to join logs and ledger. */
std::string newRequestId();
/** The same into `id` (its text replaced; no allocation once it holds one). */
void newRequestId(std::string& id);

}  // namespace spendgate::proxy
