#pragma once

namespace spendgate::core {
class BufferAllowance;
class ServedModelMemory;
class SpendRecorder;
}  // namespace spendgate::core

namespace spendgate::proxy {

class AlertDispatcher;
class Enforcer;
class LedgerWriter;
class Logger;

/** Process-wide services every worker uses; they outlive the workers. All thread-safe. */
struct Services {
  Logger& logger;
  LedgerWriter& ledger;
  Enforcer& enforcer;
  AlertDispatcher& alerts;
  core::SpendRecorder& spend;      // GET /admin/spend counts
  core::BufferAllowance& buffers;  // large per-request buffers, all requests together
  // What models were answered as, priced above their worst case: outlives reloads.
  core::ServedModelMemory& served_models;
};

}  // namespace spendgate::proxy
