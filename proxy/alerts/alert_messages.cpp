#include "proxy/alerts/alert_messages.hpp"

#include <boost/json/serialize.hpp>
#include <cctype>
#include <ctime>
#include <functional>

#include "core/json/plain_json.hpp"
#include "core/ledger/ledger_entry.hpp"

namespace spendgate::proxy {

namespace {

std::string upper(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string_view slackEmoji(core::AlertLevel level) {
  switch (level) {
    case core::AlertLevel::Info:
      return ":information_source:";
    case core::AlertLevel::Warning:
      return ":warning:";
    case core::AlertLevel::Critical:
      return ":rotating_light:";
    case core::AlertLevel::Exceeded:
      return ":no_entry:";
  }
  return ":information_source:";
}

/** Slack mrkdwn: &, < and > are control characters. */
std::string slackEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

/** A header value on one line: CR, LF and other controls become spaces (no header injection). */
std::string headerValue(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f) ? ' ' : c;
  }
  return out;
}

std::string base64(std::string_view data) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    const unsigned n = (static_cast<unsigned char>(data[i]) << 16) |
                       (static_cast<unsigned char>(data[i + 1]) << 8) |
                       static_cast<unsigned char>(data[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (i < data.size()) {
    unsigned n = static_cast<unsigned char>(data[i]) << 16;
    if (i + 1 < data.size()) n |= static_cast<unsigned char>(data[i + 1]) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < data.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

/** RFC 2047 encoded word when the text is not plain ASCII. */
std::string encodedHeader(std::string_view text) {
  const std::string value = headerValue(text);
  for (char c : value) {
    if (static_cast<unsigned char>(c) >= 0x80) return "=?UTF-8?B?" + base64(value) + "?=";
  }
  return value;
}

/** Text lines joined with CRLF; lone LF in the message become CRLF. */
void appendBody(std::string& out, std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r') continue;
    if (text[i] == '\n') {
      out += "\r\n";
    } else {
      out += text[i];
    }
  }
  out += "\r\n";
}

std::string jsonScalar(const boost::json::value& value) {
  if (value.is_string()) return std::string(value.as_string());
  return core::serializePlain(value);  // "80" and "0.00001", not "8E1" and "1E-5"
}

}  // namespace

std::string slackPayload(const core::Alert& alert) {
  std::string text = std::string(slackEmoji(alert.level)) + " *[" +
                     upper(core::alertLevelName(alert.level)) + "] " + slackEscape(alert.title) +
                     "*\n" + slackEscape(alert.message);
  boost::json::object body;
  body["text"] = text;
  return boost::json::serialize(body);
}

std::string webhookPayload(const core::Alert& alert) {
  auto body = core::alertToJson(alert);
  body["source"] = "spendgate";
  return core::serializePlain(body);
}

std::string emailSubject(const core::Alert& alert) {
  return "[spendgate " + upper(core::alertLevelName(alert.level)) + "] " + alert.title;
}

std::string rfc5322Date(std::chrono::system_clock::time_point time) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t seconds = std::chrono::system_clock::to_time_t(time);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  auto two = [](int v) { return (v < 10 ? "0" : "") + std::to_string(v); };
  return std::string(kDays[utc.tm_wday]) + ", " + two(utc.tm_mday) + " " + kMonths[utc.tm_mon] +
         " " + std::to_string(utc.tm_year + 1900) + " " + two(utc.tm_hour) + ":" + two(utc.tm_min) +
         ":" + two(utc.tm_sec) + " +0000";
}

std::string emailMessage(const core::Alert& alert,
                         const std::string& from,
                         const std::vector<std::string>& to,
                         std::chrono::system_clock::time_point now) {
  std::string recipients;
  for (const auto& address : to) {
    if (!recipients.empty()) recipients += ", ";
    recipients += headerValue(address);
  }
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const auto id_hash = std::hash<std::string>{}(alert.id);

  std::string out;
  out += "Date: " + rfc5322Date(now) + "\r\n";
  out += "From: " + headerValue(from) + "\r\n";
  out += "To: " + recipients + "\r\n";
  out += "Subject: " + encodedHeader(emailSubject(alert)) + "\r\n";
  out +=
      "Message-ID: <" + std::to_string(id_hash) + "." + std::to_string(millis) + "@spendgate>\r\n";
  out += "MIME-Version: 1.0\r\n";
  out += "Content-Type: text/plain; charset=utf-8\r\n";
  out += "Content-Transfer-Encoding: 8bit\r\n";
  out += "X-Spendgate-Alert-Id: " + encodedHeader(alert.id) + "\r\n";
  out += "\r\n";
  appendBody(out, alert.message);
  out += "\r\n";
  appendBody(out, "Level:   " + std::string(core::alertLevelName(alert.level)));
  appendBody(out, "Kind:    " + std::string(core::alertKindName(alert.kind)));
  if (!alert.budget.empty()) appendBody(out, "Budget:  " + alert.budget);
  if (!alert.subject.empty()) appendBody(out, "Subject: " + alert.subject);
  appendBody(out, "Time:    " + core::formatRfc3339(alert.created_at));
  appendBody(out, "Alert:   " + alert.id);
  if (!alert.details.empty()) {
    out += "\r\n";
    appendBody(out, "Details:");
    for (const auto& [key, value] : alert.details) {
      appendBody(out, "  " + std::string(key) + ": " + jsonScalar(value));
    }
  }
  out += "\r\n-- \r\nspendgate\r\n";
  return out;
}

}  // namespace spendgate::proxy
