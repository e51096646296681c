#include "core/enforcement/denial_messages.hpp"

#include "core/metering/request_body_json.hpp"

namespace spendgate::core {

namespace {

std::string usd(Picodollars amount) { return "$" + formatUsd(amount); }

std::string quoted(std::string_view text) { return "\"" + std::string(text) + "\""; }

/** " (team search)", " (no user)" or "" for global. */
std::string subjectPhrase(Scope scope, std::string_view subject) {
  if (scope == Scope::Global) return "";
  const std::string name(scopeName(scope));
  if (subject == kMissingSubject) return " (no " + name + ")";
  return " (" + name + " " + std::string(subject) + ")";
}

/** "1.5s", "0.25s", "12s". */
std::string seconds(std::int64_t ms) {
  std::string out = std::to_string(ms / 1000);
  std::string frac = std::to_string(ms % 1000);
  frac.insert(0, 3 - frac.size(), '0');
  while (!frac.empty() && frac.back() == '0') frac.pop_back();
  if (!frac.empty()) out += "." + frac;
  return out + "s";
}

/** Where callers of `format` put their key (findCallerKey also takes the others). */
std::string_view keyHeader(ProviderFormat format) {
  switch (format) {
    case ProviderFormat::Anthropic:
      return "the x-api-key header";
    case ProviderFormat::Gemini:
      return "the x-goog-api-key header (or a key= query parameter)";
    case ProviderFormat::Azure:
      return "the api-key header";
    case ProviderFormat::OpenAI:
      break;
  }
  return "an Authorization: Bearer header";
}

/** Zero-padded decimal; no <cstdio> in core (layering check). */
std::string padded(std::int64_t value, std::size_t width) {
  std::string digits = std::to_string(value);
  if (digits.size() < width) digits.insert(0, width - digits.size(), '0');
  return digits;
}

}  // namespace

std::string formatUtcSeconds(std::chrono::system_clock::time_point time) {
  const auto day = std::chrono::floor<std::chrono::days>(time);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss hms{std::chrono::floor<std::chrono::seconds>(time - day)};
  std::string out = padded(static_cast<int>(ymd.year()), 4);
  out += "-" + padded(static_cast<unsigned>(ymd.month()), 2);
  out += "-" + padded(static_cast<unsigned>(ymd.day()), 2);
  out += "T" + padded(hms.hours().count(), 2);
  out += ":" + padded(hms.minutes().count(), 2);
  out += ":" + padded(hms.seconds().count(), 2) + "Z";
  return out;
}

Denial emergencyStopDenial(const EmergencyStopState& state,
                           std::chrono::system_clock::time_point now) {
  Denial d;
  d.reason = DenialReason::EmergencyStop;
  d.should_retry = false;
  d.message = "spendgate emergency stop is on (" +
              std::string(emergencyStopSourceName(state.source)) + ", since " +
              formatUtcSeconds(state.since) + ")";
  if (!state.reason.empty()) d.message += ": " + state.reason;
  d.retry_after = emergencyStopRetryAfter(state, now);
  if (state.until) {
    d.message += ". Requests are refused until " + formatUtcSeconds(*state.until) + ".";
  } else {
    d.message += ". Requests are refused until an operator turns it off.";
  }
  return d;
}

Denial unknownKeyDenial(UnknownKeyCause cause, ProviderFormat format) {
  Denial d;
  d.reason = DenialReason::UnknownKey;
  switch (cause) {
    case UnknownKeyCause::Missing:
      d.message =
          "no API key was sent: send a spendgate virtual key in " + std::string(keyHeader(format));
      break;
    case UnknownKeyCause::NotVirtual:
      d.message =
          "the API key is not a spendgate virtual key and passthrough keys are not accepted";
      break;
    case UnknownKeyCause::UnknownVirtual:
      d.message =
          "the API key has the shape of a spendgate virtual key but matches none in the config "
          "(revoked or mistyped?); it was not forwarded to the provider";
      break;
    case UnknownKeyCause::Conflicting:
      d.message =
          "the request carries a spendgate virtual key and a different credential (in "
          "Authorization, x-api-key, x-goog-api-key, api-key or a key= query parameter); it was "
          "not forwarded to the provider: send the virtual key alone";
      break;
    case UnknownKeyCause::Stray:
      d.message =
          "the request carries a spendgate virtual key outside the places keys are read from "
          "(Authorization: Bearer, x-api-key, x-goog-api-key, api-key or a key= query "
          "parameter); it was not forwarded to the provider";
      break;
  }
  return d;
}

Denial unknownModelDenial(std::string_view model,
                          std::string_view azure_deployment,
                          std::string_view provider) {
  Denial d;
  d.reason = DenialReason::UnknownModel;
  d.message = "The model " + quoted(model) +
              " has no price in spendgate's catalog, and unpriced models are rejected "
              "(pricing.unknown_model: reject): add it under pricing.models or set "
              "pricing.unknown_model.";
  // An unmapped Azure deployment is priced by its own name, which is rarely a model name.
  if (!azure_deployment.empty() && model == azure_deployment) {
    d.message += " " + quoted(azure_deployment) +
                 " is an Azure deployment name: to say which model it runs, map it under "
                 "providers." +
                 std::string(provider) + ".deployments (" + std::string(azure_deployment) +
                 ": <model>).";
  }
  return d;
}

Denial modelProblemDenial(ModelProblem problem, bool model_from_body) {
  Denial d;
  d.reason = DenialReason::UnknownModel;
  constexpr std::string_view kRejected =
      "and unpriced requests are rejected (pricing.unknown_model: reject)";
  if (problem == ModelProblem::UnreadableBody) {
    d.message =
        "The request body is not JSON spendgate can read, so the model it names and its "
        "cost cannot be bounded, " +
        std::string(kRejected) +
        ". spendgate reads one JSON object (a leading UTF-8 BOM is skipped), nested at "
        "most " +
        std::to_string(kRequestBodyMaxDepth) +
        " levels deep, in valid UTF-8 and without unpaired UTF-16 surrogate escapes "
        "such as \\udead. Send such a body, or set pricing.unknown_model to allow or "
        "to a price.";
    return d;
  }
  d.message = std::string("The request names no model (") +
              (model_from_body ? "the body's \"model\" is missing, not a string or empty"
                               : "its path has none") +
              "), so its cost cannot be bounded, " + std::string(kRejected) +
              ": name the model, or set pricing.unknown_model to allow or to a price.";
  return d;
}

Denial requestCostDenial(Picodollars worst_case_cost, Picodollars max_cost, OutputCap cap) {
  Denial d;
  d.reason = DenialReason::RequestCost;
  d.message = "This request could cost up to " + usd(worst_case_cost) +
              ", more than the per-request limit of " + usd(max_cost) +
              " (request_limits.max_cost_usd). ";
  // Name the field this caller's API uses: "max_tokens" means nothing to a Gemini client.
  if (cap.field.empty()) {
    d.message += "Send less input.";
  } else if (cap.set) {
    d.message += "Lower " + std::string(cap.field) + " or send less input.";
  } else {
    d.message += "Set " + std::string(cap.field) +
                 " (without it the model's maximum output is assumed) or send less input.";
  }
  return d;
}

Denial rateLimitDenial(const RateCharge& charge,
                       RateLimitKind kind,
                       std::optional<std::int64_t> wait_ms,
                       const RateLimitHeaders& headers,
                       OutputCap cap) {
  Denial d;
  d.reason = DenialReason::RateLimit;
  d.rule = charge.name;
  d.rate_limits = headers;
  const std::string who =
      "Rate limit " + quoted(charge.name) + subjectPhrase(charge.scope, charge.subject) + ": ";
  switch (kind) {
    case RateLimitKind::Requests:
      d.message = who + "limit of " + std::to_string(charge.requests_per_minute) +
                  " requests per minute reached.";
      break;
    case RateLimitKind::Tokens:
      if (!wait_ms) {
        d.message = who + "this request needs up to " + std::to_string(charge.tokens) +
                    " tokens, more than the whole limit of " +
                    std::to_string(charge.tokens_per_minute) + " tokens per minute. ";
        // The estimate counts the output cap only when the caller set one.
        if (cap.set && !cap.field.empty()) {
          d.message += "Lower " + std::string(cap.field) + " or send less input.";
        } else {
          d.message += "Send less input.";
        }
      } else {
        d.message = who + "limit of " + std::to_string(charge.tokens_per_minute) +
                    " tokens per minute reached (this request needs up to " +
                    std::to_string(charge.tokens) + ").";
      }
      break;
    case RateLimitKind::Concurrent:
      d.message =
          who + "limit of " + std::to_string(charge.concurrent) + " concurrent requests reached.";
      break;
  }
  if (wait_ms) {
    d.retry_after = std::chrono::milliseconds{*wait_ms};
    d.should_retry = true;
    d.message += " Retry in " + seconds(*wait_ms) + ".";
  } else {
    // It never passes as it is, but every rate_limit answer carries retry-after (SPEC §4):
    // the limit's window, with x-should-retry: false so SDKs do not wait it out.
    d.retry_after = std::chrono::minutes{1};
  }
  return d;
}

Denial budgetDenial(const BudgetCharge& charge,
                    Picodollars spent,
                    Picodollars reserved,
                    std::chrono::system_clock::time_point now) {
  Denial d;
  d.reason = DenialReason::Budget;
  d.rule = charge.name;
  d.should_retry = false;
  const std::string budget =
      "Budget " + quoted(charge.name) + subjectPhrase(charge.scope, charge.subject);
  const std::string period =
      charge.period == Period::Total ? "" : " for this " + std::string(periodName(charge.period));
  std::string counters = usd(spent) + " spent";
  if (reserved > 0) counters += " and " + usd(reserved) + " reserved by requests in flight";
  counters += " of the " + usd(charge.limit) + " limit";
  if (charge.unpriced) {
    // Only refused when nothing is left (see kUnpricedAmount); there is no worst case to name.
    d.message = budget + " is used up" + period + ": " + counters +
                ". spendgate cannot price this endpoint, so it forwards it only while the budget "
                "has something left.";
  } else if (spent + reserved >= charge.limit) {
    d.message = budget + " is used up" + period + ": " + counters +
                ", and this request could cost up to " + usd(charge.amount) + ".";
  } else {
    // Something is left: "used up" would be wrong; it is this request's worst case that is big.
    d.message = budget + " cannot take this request" + period + ": its worst case, up to " +
                usd(charge.amount) + ", does not fit in the " +
                usd(charge.limit - spent - reserved) + " that remains (" + counters + ").";
  }
  if (charge.period == Period::Total) {
    d.message += " It does not reset (period: total).";
  } else {
    d.message += " It resets at " + formatUtcSeconds(charge.window.end) + ".";
    d.retry_after = std::chrono::ceil<std::chrono::milliseconds>(charge.window.end - now);
  }
  return d;
}

Denial storeUnavailableDenial() {
  Denial d;
  d.reason = DenialReason::StoreUnavailable;
  d.should_retry = true;
  d.message =
      "spendgate cannot reach its budget store, and requests are refused while it is down "
      "(store.redis.on_unavailable: fail_closed).";
  return d;
}

}  // namespace spendgate::core
