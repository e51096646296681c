#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/enforcement/denial.hpp"
#include "core/enforcement/emergency_stop.hpp"
#include "core/enforcement/period.hpp"
#include "core/enforcement/rules.hpp"
#include "core/enforcement/scope.hpp"
#include "core/pricing/money.hpp"

// Values exchanged with a CounterStore. Every implementation (memory, Redis) fills them alike.
namespace spendgate::core {

/** How long a settled or expired reservation is remembered, so a retried settle is a no-op. */
inline constexpr std::chrono::milliseconds kReservationRecordRetention{3600000};

/** At most this many expired reservations are released per store call (bounds a Lua script). */
inline constexpr std::size_t kExpirySweepLimit = 256;

/** A value or, when the store failed, why. */
template <typename T>
struct StoreResult {
  std::optional<T> value;
  std::string error;  // set when !value

  bool ok() const { return value.has_value(); }
  static StoreResult success(T v) { return StoreResult{std::move(v), {}}; }
  static StoreResult failure(std::string message) {
    return StoreResult{std::nullopt, std::move(message)};
  }
};

/** The answer to CounterStore::admit. */
struct AdmissionResult {
  enum class Status {
    Allowed,    // everything reserved: forward the request, then settle
    Denied,     // `denial` says why; nothing was reserved or counted
    StoreError  // the store did not answer; `error` says why (fail_closed / fail_open decides)
  };
  Status status = Status::StoreError;
  std::optional<Denial> denial;
  /** x-ratelimit-* data, on allowed answers too (after this request's charge). */
  RateLimitHeaders rate_limits;
  std::string error;
  /**
   * Denied only because of budget slices leased to instances (Redis store with leases): their
   * holders were asked to give the unused part back, so a retry shortly may pass.
   */
  bool reclaiming = false;
  /**
   * Refused by the emergency stop: the stop as the store holds it, so the caller's view (metrics,
   * /admin/status) agrees with the refusal at once instead of at its next poll.
   */
  std::optional<EmergencyStopState> emergency_stop;

  bool allowed() const { return status == Status::Allowed; }

  /**
   * A refusal for `denial`, with the x-ratelimit-* data of the caller's rate limits (their levels
   * without this request: it charged nothing), in the result and in the denial the answer is made
   * from: SPEC §3 wants them wherever a rate limit applies, whatever refused the request.
   */
  static AdmissionResult refused(Denial denial, RateLimitHeaders headers = {}) {
    AdmissionResult result;
    result.status = Status::Denied;
    denial.rate_limits = headers;
    result.rate_limits = std::move(headers);
    result.denial = std::move(denial);
    return result;
  }
};

/** One request's real cost, for CounterStore::settle. */
struct Settlement {
  std::string reservation_id;
  Picodollars actual_cost = 0;     // negative counts as 0
  std::int64_t actual_tokens = 0;  // input + output, replaces the estimate in token buckets
  std::chrono::system_clock::time_point now;
};

/** One budget counter (one budget, one subject, one period), as the admin API shows it. */
struct BudgetSnapshot {
  std::string counter_key;
  std::string name;
  Scope scope = Scope::Global;
  std::string subject;
  Period period = Period::Day;
  PeriodWindow window;
  Picodollars limit = 0;
  Picodollars spent = 0;
  Picodollars reserved = 0;  // hard budgets only; soft budgets never reserve
  BudgetMode mode = BudgetMode::Hard;
  /**
   * Redis store with leases: slices leased to instances and not (as far as known) in use. Kept
   * apart from `reserved` (in-flight worst cases) because admission and the lease bookkeeping
   * need the split; users see their sum (reservedShown).
   */
  Picodollars leased = 0;

  /**
   * What /admin/budgets and `spendgate budgets` call `reserved_usd`: everything held back
   * from new requests without being spent, in-flight worst cases and leased slices alike (issue 6:
   * slices "count as reserved"), so spent + reserved + remaining = limit.
   */
  Picodollars reservedShown() const {
    return saturatingAdd(std::max<Picodollars>(reserved, 0), std::max<Picodollars>(leased, 0));
  }

  friend bool operator==(const BudgetSnapshot&, const BudgetSnapshot&) = default;
};

enum class SettleOutcome {
  Settled,             // reservation replaced by the real cost
  SettledAfterExpiry,  // it had expired (worst case charged as spent): real cost replaces it
  AlreadySettled,      // a retry: nothing changed
  UnknownReservation   // never admitted here, or forgotten after kReservationRecordRetention
};

/** The answer to CounterStore::settle. */
struct SettleResult {
  SettleOutcome outcome = SettleOutcome::UnknownReservation;
  /** Every budget counter the request was charged to, after this settlement (for alerts). */
  std::vector<BudgetSnapshot> budgets;
  /** Global spend in the emergency stop's auto period after this settlement, if tracked. */
  std::optional<Picodollars> period_spend;
};

}  // namespace spendgate::core
