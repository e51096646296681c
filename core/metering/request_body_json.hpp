#pragma once

#include <cstddef>
#include <string_view>

// How spendgate reads a request body as JSON: the same rules for classifying it and for the
// include_usage injection, so a body that one of them reads, the other reads too.
namespace spendgate::core {

/**
 * The deepest nesting a request body may have and still be read. Boost.JSON's basic_parser
 * recurses once per level on the calling (worker) thread's stack. Measured at this limit: the
 * classifier needs about 185 KiB of stack in a Debug build and 71 KiB in Release; the injection's
 * boost::json::parse (compiled in the Boost.JSON library) about 90 KiB in either. A worker
 * thread's stack is glibc's default (RLIMIT_STACK, 8 MiB on most systems, 2 MiB when unlimited). No
 * real request comes near it: tool schemas nest a few dozen levels. A deeper body is not read at
 * all.
 */
inline constexpr std::size_t kRequestBodyMaxDepth = 1024;

/**
 * @return `body` without a leading UTF-8 byte order mark (EF BB BF). RFC 8259 §8.1 lets a parser
 * skip one, and the readers behind many OpenAI-compatible servers do (Python's json.loads on
 * bytes, so FastAPI and vLLM): such a body is billed, so it must be read.
 */
constexpr std::string_view withoutUtf8Bom(std::string_view body) {
  constexpr std::string_view kBom = "\xEF\xBB\xBF";
  return body.starts_with(kBom) ? body.substr(kBom.size()) : body;
}

}  // namespace spendgate::core
