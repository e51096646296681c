#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace spendgate::core {

/** @return whether `target` is in origin form ("/path?query"), the form nearly every client sends.
 */
inline bool isOriginForm(std::string_view target) { return !target.empty() && target[0] == '/'; }

/**
 * The origin form of an absolute-form request target (RFC 9112 §3.2.2, what a client sends to a
 * proxy it was told is a forward proxy): "http://host:8080/v1/models?x=1" -> "/v1/models?x=1",
 * "http://host" -> "/". Path and query stay as they were sent (still percent-encoded). Any scheme
 * is taken, as nginx does; the authority is ignored, since the route picks the upstream.
 * @return nullopt when `target` is no absolute URI with a host, or carries userinfo (RFC 9110
 *         §4.2.4: a recipient should treat it as an error), or is any other form ("*", "host:443").
 */
std::optional<std::string> originFormOf(std::string_view target);

}  // namespace spendgate::core
