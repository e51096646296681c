#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "core/alerts/alert.hpp"

// What each alert sink receives: the bytes only, no I/O (alert_dispatcher.cpp sends them).
namespace spendgate::proxy {

/** Slack incoming webhook body: `{"text": "<emoji> *[LEVEL] title*\nmessage"}`, &<> escaped. */
std::string slackPayload(const core::Alert& alert);

/** Generic webhook body: core::alertToJson(alert) plus `"source":"spendgate"`. */
std::string webhookPayload(const core::Alert& alert);

/** Subject line of an alert mail: "[spendgate LEVEL] title". */
std::string emailSubject(const core::Alert& alert);

/**
 * A complete RFC 5322 plain-text message (CRLF line ends; libcurl adds the SMTP dot-stuffing):
 * Date, From, To, Subject (RFC 2047 encoded when not ASCII), Message-ID, MIME headers,
 * X-Spendgate-Alert-Id, then the message and the details. CR/LF in header values become spaces.
 */
std::string emailMessage(const core::Alert& alert,
                         const std::string& from,
                         const std::vector<std::string>& to,
                         std::chrono::system_clock::time_point now);

/** @return the RFC 5322 date: "Wed, 01 May 2024 12:00:00 +0000". */
std::string rfc5322Date(std::chrono::system_clock::time_point time);

}  // namespace spendgate::proxy
