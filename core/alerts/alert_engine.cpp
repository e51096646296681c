#include "core/alerts/alert_engine.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <iterator>

#include "core/enforcement/planner.hpp"
#include "core/ledger/ledger_entry.hpp"

namespace spendgate::core {

namespace {

using std::chrono::system_clock;
using TimePoint = system_clock::time_point;

constexpr std::int64_t kHourMillis = 3600000;
constexpr std::int64_t kBaselineMillis = 24 * kHourMillis;
constexpr auto kRateKeep = std::chrono::hours(25);  // last hour + the 24 h baseline before it
constexpr auto kPruneEvery = std::chrono::minutes(1);
constexpr auto kCounterKeep = std::chrono::hours(1);  // after the period ends: late settles

/** Shortest round-trip spelling of an alert_at fraction: 0.8 -> "0.8", 1.0 -> "1". */
std::string fractionText(double fraction) {
  char buffer[32];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, fraction);
  return ec == std::errc{} ? std::string(buffer, end) : std::to_string(fraction);
}

/** Fixed decimals without printf (core does no I/O, not even through <cstdio>). */
std::string fixed(double value, int decimals) {
  char buffer[64];
  auto [end, ec] =
      std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed, decimals);
  return ec == std::errc{} ? std::string(buffer, end) : std::to_string(value);
}

/** Rounds to 6 decimals for JSON details, so 0.8 does not print as 0.8000000000000000444. */
double rounded(double value) { return std::round(value * 1e6) / 1e6; }

/** The amount `fraction` of `limit`, to the nearest picodollar (exact comparisons, no drift). */
Picodollars fractionOf(Picodollars limit, double fraction) {
  const long double amount = static_cast<long double>(limit) * fraction;
  if (amount >= static_cast<long double>(INT64_MAX)) return INT64_MAX;
  return static_cast<Picodollars>(std::llround(static_cast<double>(amount)));
}

double ratio(Picodollars spent, Picodollars limit) {
  return limit > 0 ? static_cast<double>(spent) / static_cast<double>(limit) : 0.0;
}

std::int64_t millisOf(TimePoint t) { return unixMillis(t); }

/** " for team search", or "" for a global budget. */
std::string subjectText(const BudgetSnapshot& s) {
  if (s.scope == Scope::Global) return "";
  return " for " + std::string(scopeName(s.scope)) + " " + s.subject;
}

/** "in the day period from <start> to <end>", or "in total (never resets)". */
std::string periodText(const BudgetSnapshot& s) {
  if (s.period == Period::Total) return "in total (this budget never resets)";
  return "in the " + std::string(periodName(s.period)) + " period from " +
         formatRfc3339(s.window.start) + " to " + formatRfc3339(s.window.end);
}

/** The details every budget alert carries. */
boost::json::object budgetDetails(const BudgetSnapshot& s) {
  boost::json::object d;
  d["budget"] = s.name;
  d["scope"] = scopeName(s.scope);
  d["subject"] = s.subject;
  d["period"] = periodName(s.period);
  d["period_start"] = formatRfc3339(s.window.start);
  if (s.period == Period::Total) {
    d["period_end"] = nullptr;  // never ends
  } else {
    d["period_end"] = formatRfc3339(s.window.end);
  }
  d["limit_usd"] = toUsd(s.limit);
  d["spent_usd"] = toUsd(s.spent);
  d["reserved_usd"] = toUsd(s.reserved);
  d["used_ratio"] = rounded(ratio(s.spent, s.limit));
  d["mode"] = budgetModeName(s.mode);
  return d;
}

Alert budgetAlert(
    const BudgetSnapshot& s, AlertKind kind, AlertLevel level, std::string id, TimePoint now) {
  Alert a;
  a.id = std::move(id);
  a.kind = kind;
  a.level = level;
  a.budget = s.name;
  a.subject = s.subject;
  a.created_at = now;
  a.details = budgetDetails(s);
  return a;
}

}  // namespace

AlertEngine::AlertEngine(std::vector<BudgetRule> budgets, AlertSettings settings)
    : budgets_(std::move(budgets)), settings_(settings) {}

void AlertEngine::reconfigure(std::vector<BudgetRule> budgets, AlertSettings settings) {
  budgets_ = std::move(budgets);
  settings_ = settings;
  ++generation_;
}

void AlertEngine::setFloors(Tracked& tracked, const BudgetRule& rule, Picodollars limit) const {
  tracked.floors_generation = generation_;
  tracked.floors_limit = limit;
  // thresholds(): below the smallest positive threshold's amount it returns at once; without
  // one (or without a limit) it always does, which INT64_MAX says for every spent but the
  // largest (and thresholds() itself returns for that one).
  double lowest = 0;
  for (double fraction : rule.alert_at) {
    if (fraction > 0 && (lowest == 0 || fraction < lowest)) lowest = fraction;
  }
  tracked.threshold_floor =
      limit <= 0 || rule.alert_at.empty() || lowest == 0 ? INT64_MAX : fractionOf(limit, lowest);
  // projection(): it projects only once `projection_min_elapsed` (m) of the period has passed,
  // so the projection is at most spent / m (and the long double steps to it round by far less
  // than the 1e-9 kept here): spent below limit x m x (1 - 1e-9) never projects past the limit.
  // Without a positive m there is no such bound, and INT64_MIN lets every settlement through.
  const double m = settings_.projection_min_elapsed;
  tracked.projection_floor = INT64_MIN;
  if (limit > 0 && m > 0 && std::isfinite(m)) {
    const long double bound =
        static_cast<long double>(limit) * static_cast<long double>(m) * (1.0L - 1e-9L);
    tracked.projection_floor = bound >= static_cast<long double>(INT64_MAX)
                                   ? INT64_MAX
                                   : static_cast<Picodollars>(bound);  // toward zero: below it
  }
}

const BudgetRule* AlertEngine::findRule(const std::string& name) const {
  for (const auto& rule : budgets_) {
    if (rule.name == name) return &rule;
  }
  return nullptr;
}

bool AlertEngine::passCooldown(const std::string& key, TimePoint now) {
  auto it = cooldowns_.find(key);
  if (it != cooldowns_.end() && now < it->second + settings_.cooldown && now >= it->second) {
    ++suppressed_;
    return false;
  }
  cooldowns_[key] = now;
  return true;
}

std::vector<Alert> AlertEngine::onBudgetSettled(const std::vector<BudgetSnapshot>& after,
                                                TimePoint now) {
  std::vector<Alert> out;
  onBudgetSettled(after, now, out);
  return out;
}

void AlertEngine::onBudgetSettled(const std::vector<BudgetSnapshot>& after,
                                  TimePoint now,
                                  std::vector<Alert>& out) {
  prune(now);
  if (tracked_.size() < after.size()) tracked_.resize(after.size());
  for (std::size_t i = 0; i < after.size(); ++i) {
    const BudgetSnapshot& s = after[i];
    const BudgetRule* rule = findRule(s.name);
    if (rule == nullptr) continue;  // removed by a reload: no longer alerted on
    Tracked& tracked = tracked_[i];
    if (tracked.counter == nullptr || tracked.start != s.window.start || tracked.name != s.name ||
        tracked.subject != s.subject) {
      tracked.name = s.name;
      tracked.subject = s.subject;
      tracked.start = s.window.start;
      tracked.counter = &counters_[budgetCounterKey(s.name, s.subject, s.window.start)];
      tracked.rate_key.clear();
      appendEscapedKeyPart(tracked.rate_key, s.name);
      tracked.rate_key.push_back(':');
      appendEscapedKeyPart(tracked.rate_key, s.subject);
      tracked.rate = nullptr;
      tracked.floors_generation = 0;  // another budget: its rule's floors
    }
    if (tracked.floors_generation != generation_ || tracked.floors_limit != s.limit) {
      setFloors(tracked, *rule, s.limit);
    }
    CounterState& state = *tracked.counter;
    state.window_end = s.window.end;
    if (s.spent >= tracked.threshold_floor) thresholds(s, *rule, state, now, out);
    if (s.spent >= tracked.projection_floor) projection(s, state, now, out);
    spendRate(s, tracked, now, out);
  }
}

void AlertEngine::thresholds(const BudgetSnapshot& s,
                             const BudgetRule& rule,
                             CounterState& state,
                             TimePoint now,
                             std::vector<Alert>& out) {
  if (s.limit <= 0 || rule.alert_at.empty()) return;
  // fractionOf grows with the fraction (the limit is positive): spend below the smallest
  // threshold's amount crosses none, which one amount says instead of one per threshold.
  double lowest = 0;
  for (double fraction : rule.alert_at) {
    if (fraction > 0 && (lowest == 0 || fraction < lowest)) lowest = fraction;
  }
  if (lowest == 0 || s.spent < fractionOf(s.limit, lowest)) return;
  // Only the highest threshold crossed is sent; the lower ones it passed count as fired, so a
  // jump from 40 % to 96 % gives one critical alert, not three.
  double highest = -1;
  for (double fraction : rule.alert_at) {
    if (fraction > 0 && s.spent >= fractionOf(s.limit, fraction))
      highest = std::max(highest, fraction);
  }
  if (highest < 0) return;
  const bool already = state.fired_thresholds.contains(highest);
  for (double fraction : rule.alert_at) {
    if (fraction <= highest) state.fired_thresholds.insert(fraction);
  }
  if (already) return;
  const std::string threshold = fractionText(highest);
  if (!passCooldown("budget_threshold:" + escapeKeyPart(s.name) + ":" + escapeKeyPart(s.subject) +
                        ":" + threshold,
                    now)) {
    return;
  }

  const AlertLevel level = thresholdLevel(highest);
  Alert a = budgetAlert(
      s, AlertKind::BudgetThreshold, level,
      budgetCounterKey(s.name, s.subject, s.window.start) + ":threshold:" + threshold, now);
  a.details["threshold"] = rounded(highest);
  const std::string who = "Budget " + s.name + subjectText(s);
  const std::string period(periodName(s.period));
  if (highest < 1.0) {
    a.title = who + " reached " + percentText(highest) + " of its " + period + " limit";
  } else if (highest == 1.0) {
    a.title = who + " reached its " + period + " limit";
  } else {
    a.title = who + " passed " + percentText(highest) + " of its " + period + " limit";
  }
  a.message = who + ": " + usdText(s.spent) + " spent of " + usdText(s.limit) + " (" +
              percentText(ratio(s.spent, s.limit)) + ") " + periodText(s) + ".";
  if (s.reserved > 0)
    a.message += " " + usdText(s.reserved) + " more is reserved by requests in flight.";
  if (s.spent >= s.limit) {
    if (s.mode == BudgetMode::Soft) {
      a.message += " Soft budget: requests still pass.";
    } else if (s.period == Period::Total) {  // nothing resets it: only a higher limit does
      a.message +=
          " Hard budget: requests charged to it are refused from now on; only a higher limit_usd "
          "lets them through.";
    } else {
      a.message += " Hard budget: requests charged to it are refused until the period resets.";
    }
  }
  out.push_back(std::move(a));
}

void AlertEngine::projection(const BudgetSnapshot& s,
                             CounterState& state,
                             TimePoint now,
                             std::vector<Alert>& out) {
  if (state.projection_fired || s.period == Period::Total || s.limit <= 0) return;
  if (now <= s.window.start || now >= s.window.end) return;
  if (s.spent >= s.limit) return;  // already there: the threshold alerts say so
  const auto length = static_cast<long double>(millisOf(s.window.end) - millisOf(s.window.start));
  const auto elapsed = static_cast<long double>(millisOf(now) - millisOf(s.window.start));
  if (elapsed <= 0 || elapsed < settings_.projection_min_elapsed * length) return;
  const long double projected = static_cast<long double>(s.spent) * length / elapsed;
  if (projected <= static_cast<long double>(s.limit)) return;
  state.projection_fired = true;
  if (!passCooldown("budget_projection:" + escapeKeyPart(s.name) + ":" + escapeKeyPart(s.subject),
                    now)) {
    return;
  }

  // At the current average rate the limit is reached at start + elapsed x limit / spent.
  const auto reach_ms = static_cast<std::int64_t>(
      static_cast<long double>(millisOf(s.window.start)) +
      elapsed * static_cast<long double>(s.limit) / static_cast<long double>(s.spent));
  const TimePoint reach = fromUnixMillis(reach_ms);
  const auto projected_amount =
      projected >= static_cast<long double>(INT64_MAX)
          ? INT64_MAX
          : static_cast<Picodollars>(std::llround(static_cast<double>(projected)));
  Alert a = budgetAlert(s, AlertKind::BudgetProjection, AlertLevel::Warning,
                        budgetCounterKey(s.name, s.subject, s.window.start) + ":projection", now);
  a.details["projected_usd"] = toUsd(projected_amount);
  a.details["elapsed_ratio"] = rounded(static_cast<double>(elapsed / length));
  a.details["projected_limit_at"] = formatRfc3339(reach);
  const std::string who = "Budget " + s.name + subjectText(s);
  const std::string period(periodName(s.period));
  a.title = who + " is on track to exceed its " + period + " limit";
  a.message = who + ": " + usdText(s.spent) + " spent after " +
              percentText(static_cast<double>(elapsed / length)) + " of the " + period +
              " period projects to " + usdText(projected_amount) + " by " +
              formatRfc3339(s.window.end) + " (limit " + usdText(s.limit) +
              "). At this rate the limit is reached around " + formatRfc3339(reach) + ".";
  out.push_back(std::move(a));
}

void AlertEngine::spendRate(const BudgetSnapshot& s,
                            Tracked& tracked,
                            TimePoint now,
                            std::vector<Alert>& out) {
  const std::string& key = tracked.rate_key;
  if (tracked.rate == nullptr) {
    auto [it, inserted] = rates_.try_emplace(key);
    tracked.rate = &it->second;
    if (inserted) {
      // Spend before the first look has no known time: it only sets the starting point.
      RateState& r = it->second;
      r.tracked_since = now;
      r.last_seen = now;
      r.last_window_start = s.window.start;
      r.last_spent = s.spent;
      return;
    }
  }
  RateState& r = *tracked.rate;
  Picodollars delta = 0;
  TimePoint from = r.last_seen;
  if (s.window.start == r.last_window_start) {
    delta = s.spent - r.last_spent;
  } else if (s.window.start > r.last_window_start) {
    delta = s.spent;  // a new period: everything in it was spent since it started
    from = std::max(r.last_seen, s.window.start);
  } else {
    return;  // a late settle of an earlier period: its spend was already counted or is lost
  }
  r.last_window_start = s.window.start;
  r.last_spent = s.spent;
  if (delta < 0) delta = 0;
  if (from > now || settings_.every_charge_observed) from = now;
  r.last_seen = std::max(r.last_seen, now);

  // Spread the delta evenly over (from, now]: with several instances the counter also moved by
  // what the others spent since this one last looked, and that spend happened in between.
  const std::int64_t now_ms = millisOf(now);
  const std::int64_t keep_from =
      now_ms - std::chrono::duration_cast<std::chrono::milliseconds>(kRateKeep).count();
  std::int64_t from_ms = millisOf(from);
  if (delta > 0) {
    long double amount = static_cast<long double>(delta);
    if (from_ms < keep_from) {  // only the part inside the kept history matters
      amount = amount * static_cast<long double>(now_ms - keep_from) /
               static_cast<long double>(now_ms - from_ms);
      from_ms = keep_from;
    }
    auto add = [&](std::int64_t bucket, Picodollars value) {
      if (value <= 0) return;
      // Nearly always the newest bucket, or one after it: where lower_bound would find it.
      if (!r.buckets.empty() && r.buckets.back().first <= bucket) {
        if (r.buckets.back().first == bucket) {
          r.buckets.back().second = saturatingAdd(r.buckets.back().second, value);
        } else {
          r.buckets.emplace_back(bucket, value);
        }
        return;
      }
      auto pos =
          std::lower_bound(r.buckets.begin(), r.buckets.end(), bucket,
                           [](const auto& b, std::int64_t index) { return b.first < index; });
      if (pos != r.buckets.end() && pos->first == bucket) {
        pos->second = saturatingAdd(pos->second, value);
      } else {
        r.buckets.insert(pos, {bucket, value});
      }
    };
    const std::int64_t span = now_ms - from_ms;
    if (span <= 0) {
      add(now_ms / kBucketMillis, static_cast<Picodollars>(amount));
    } else {
      Picodollars given = 0;
      const auto total = static_cast<Picodollars>(amount);
      for (std::int64_t b = from_ms / kBucketMillis; b <= now_ms / kBucketMillis; ++b) {
        const std::int64_t lo = std::max(from_ms, b * kBucketMillis);
        const std::int64_t hi = std::min(now_ms, (b + 1) * kBucketMillis);
        if (b == now_ms / kBucketMillis) {
          add(b, total - given);  // the rounding remainder lands in the current bucket
        } else if (hi > lo) {
          const auto part = static_cast<Picodollars>(amount * (hi - lo) / span);
          add(b, part);
          given += part;
        }
      }
    }
  }
  const std::int64_t keep_bucket = keep_from / kBucketMillis;
  while (!r.buckets.empty() && r.buckets.front().first < keep_bucket) r.buckets.pop_front();

  // Last hour = the current 5-minute bucket and the 11 before it; baseline = the 24 h before.
  const std::int64_t current = now_ms / kBucketMillis;
  const std::int64_t hour_first = current - (kHourMillis / kBucketMillis - 1);
  const std::int64_t hour_start_ms = hour_first * kBucketMillis;
  const std::int64_t baseline_first = hour_first - kBaselineMillis / kBucketMillis;
  // The last hour is the tail of the (ascending) buckets: sum it first, and look at the up to
  // 24 h of baseline only when the last hour passes the floor.
  auto hour_begin = r.buckets.end();
  while (hour_begin != r.buckets.begin() && std::prev(hour_begin)->first >= hour_first) {
    --hour_begin;
  }
  Picodollars last_hour = 0;
  for (auto it = hour_begin; it != r.buckets.end(); ++it) {
    last_hour = saturatingAdd(last_hour, it->second);
  }
  if (last_hour < settings_.spend_rate_min) return;
  Picodollars baseline = 0;
  for (auto it = r.buckets.begin(); it != hour_begin; ++it) {
    if (it->first >= baseline_first) baseline = saturatingAdd(baseline, it->second);
  }
  const std::int64_t covered_from =
      std::max(millisOf(r.tracked_since), hour_start_ms - kBaselineMillis);
  const std::int64_t covered = hour_start_ms - covered_from;
  if (covered <= 0 || covered < settings_.spend_rate_min_baseline.count()) return;
  const long double hours = static_cast<long double>(covered) / kHourMillis;
  const long double average = static_cast<long double>(baseline) / hours;
  if (static_cast<long double>(last_hour) <= settings_.spend_rate_factor * average) return;

  // At most one spend-rate alert per clock hour, whatever the cooldown.
  const std::int64_t hour = now_ms / kHourMillis;
  if (r.last_alert_hour == hour) return;
  r.last_alert_hour = hour;
  if (!passCooldown("spend_rate:" + key, now)) return;

  const std::int64_t hour_unix = hour * 3600;
  Alert a = budgetAlert(s, AlertKind::SpendRate, AlertLevel::Warning,
                        "budget:" + key + ":spend_rate:" + std::to_string(hour_unix), now);
  const auto average_amount = static_cast<Picodollars>(average);
  a.details["last_hour_usd"] = toUsd(last_hour);
  a.details["average_hourly_usd"] = toUsd(average_amount);
  a.details["baseline_hours"] = rounded(static_cast<double>(hours));
  a.details["factor"] = average > 0 ? rounded(static_cast<double>(last_hour / average)) : 0.0;
  const std::string who = "Budget " + s.name + subjectText(s);
  a.title = "Spend spike on budget " + s.name + subjectText(s) + ": " + usdText(last_hour) +
            " in the last hour";
  a.message = who + ": " + usdText(last_hour) + " spent in the last hour";
  if (average > 0) {
    a.message += ", " + fixed(static_cast<double>(last_hour / average), 1) + "x its average of " +
                 usdText(average_amount) + " per hour over the previous " +
                 fixed(static_cast<double>(hours), hours < 10 ? 1 : 0) + " h.";
  } else {
    a.message += ", with no spend in the previous " +
                 fixed(static_cast<double>(hours), hours < 10 ? 1 : 0) + " h.";
  }
  a.message += " " + usdText(s.spent) + " of " + usdText(s.limit) + " spent this " +
               std::string(periodName(s.period)) + ".";
  out.push_back(std::move(a));
}

std::vector<Alert> AlertEngine::onEmergencyStopChanged(const EmergencyStopState& before,
                                                       const EmergencyStopState& after,
                                                       TimePoint now) {
  std::vector<Alert> out;
  prune(now);
  // A stop that had run out when the next one began ended on its own: the next one is a new
  // trip (an automatic stop trips again at the first settle after its hold if spend is still over).
  const bool new_trip = before.active && after.active && after.since != before.since &&
                        before.until && *before.until <= after.since;
  if (before.active == after.active && !new_trip) return out;
  // A re-trip straight from an expired stop still reads on, off, on: the off is the expiry, with
  // the same id an instance that saw the expiry on its own (timer) computes.
  if (new_trip) emergencyStopOff(before, expireEmergencyStop(before, *before.until), now, out);
  if (after.active) {
    emergencyStopOn(after, now, out);
  } else {
    emergencyStopOff(before, after, now, out);
  }
  return out;
}

void AlertEngine::emergencyStopOn(const EmergencyStopState& after,
                                  TimePoint now,
                                  std::vector<Alert>& out) {
  Alert a;
  a.created_at = now;
  a.kind = AlertKind::EmergencyStopTripped;
  a.level = AlertLevel::Critical;
  a.details["active"] = true;
  a.details["source"] = emergencyStopSourceName(after.source);
  a.details["reason"] = after.reason;
  a.details["since"] = formatRfc3339(after.since);
  if (after.until) {
    a.details["until"] = formatRfc3339(*after.until);
  } else {
    a.details["until"] = nullptr;
  }
  const std::string source(emergencyStopSourceName(after.source));
  a.id = "emergency_stop:on:" + std::to_string(millisOf(after.since));
  a.title = "Emergency stop ON (" + source + ")";
  a.message = "The emergency stop is on (" + source + ")" +
              (after.reason.empty() ? std::string() : ": " + after.reason) +
              ". Every proxied request is refused with 503 until " +
              (after.until ? formatRfc3339(*after.until) : std::string("it is turned off")) + ".";
  if (!firstSight(a.id, now)) return;
  out.push_back(std::move(a));
}

void AlertEngine::emergencyStopOff(const EmergencyStopState& before,
                                   const EmergencyStopState& after,
                                   TimePoint now,
                                   std::vector<Alert>& out) {
  // It ran out when it went off no earlier than its `until` (expireEmergencyStop sets since =
  // until); otherwise an operator turned it off.
  const bool ran_out = before.until && *before.until <= after.since;
  Alert a;
  a.created_at = now;
  a.kind = AlertKind::EmergencyStopCleared;
  a.level = AlertLevel::Info;
  a.details["active"] = false;
  a.details["source"] = emergencyStopSourceName(before.source);
  a.details["reason"] = before.reason;
  a.details["since"] = formatRfc3339(after.since);
  a.details["until"] = nullptr;
  a.details["ended"] = ran_out ? "ran_out" : "turned_off";
  const std::string source(emergencyStopSourceName(before.source));
  const std::string what = "The emergency stop (" + source + ")" +
                           (before.reason.empty() ? std::string() : " \"" + before.reason + "\"");
  a.id = "emergency_stop:off:" + std::to_string(millisOf(after.since));
  a.title = ran_out ? "Emergency stop ended: its time ran out" : "Emergency stop off";
  a.message = ran_out ? "Emergency stop ended: its time ran out. " + what + " ended at " +
                            formatRfc3339(after.since) + ". Requests are forwarded again."
                      : what + " was turned off at " + formatRfc3339(after.since) +
                            ". Requests are forwarded again.";
  if (!firstSight(a.id, now)) return;
  out.push_back(std::move(a));
}

bool AlertEngine::firstSight(const std::string& id, TimePoint now) {
  // Keyed by the event's id, so a new transition always passes; only the same one seen again
  // (a stale store read) is held. Other instances are kept off it by the dispatcher's id claim.
  return passCooldown("event:" + id, now);
}

void AlertEngine::prune(TimePoint now) {
  if (last_prune_ != TimePoint{} && now >= last_prune_ && now - last_prune_ < kPruneEvery) return;
  last_prune_ = now;
  tracked_.clear();  // it points into the maps pruned below
  std::erase_if(counters_,
                [&](const auto& entry) { return entry.second.window_end + kCounterKeep < now; });
  std::erase_if(cooldowns_,
                [&](const auto& entry) { return entry.second + settings_.cooldown < now; });
  std::erase_if(rates_,
                [&](const auto& entry) { return entry.second.last_seen + kRateKeep < now; });
}

}  // namespace spendgate::core
