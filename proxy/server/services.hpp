#pragma once

namespace spendgate::proxy {

class Enforcer;
class LedgerWriter;
class Logger;

/** Process-wide services every worker uses; they outlive the workers. All thread-safe. */
struct Services {
  Logger& logger;
  LedgerWriter& ledger;
  Enforcer& enforcer;
};

}  // namespace spendgate::proxy
