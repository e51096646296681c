#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/usage/openai_usage.hpp"

namespace spendgate::core {

// ---- OpenAI-shaped answers and stream chunks, read without building a document ---------------
//
// The common case (a chat completion with its usage, or one chunk event of its stream) is read in
// one pass over the body that takes exactly what UsageExtractor's document path
// (handleOpenAiChunk) takes from the document. Anything the scan does not model (an error member
// that is not null, a duplicate key that matters, a choice with both `delta` and `message`, a
// `delta` in a non-streamed answer, a root that is not an object, invalid JSON, nesting deeper
// than the document path allows) makes it give up, and the document path reads the body as
// before.

/**
 * Reads an OpenAI-shaped body into `out` (reset first): a non-streamed answer, or (`stream`) one
 * chunk event's data, where a choice's `delta` is read as its `message`.
 *
 * A body without a backslash is read by a hand-written scan (scanOpenAiPlain). A non-streamed
 * answer of at most kOpenAiAnswerFastBytes with an escape (Boost.JSON's parser reads the rest of
 * that string a byte at a time) is read with simdjson's DOM parser (scanOpenAiAnswerFast); every
 * other body, and one those leave undecided, by Boost.JSON's `basic_parser` (scanOpenAiSax). They
 * give the same answers and give up on the same bodies (tests/core/openai_answer_scan_test.cpp).
 *
 * @return false when the document path must read the body (what `out` then holds is moot).
 */
bool scanOpenAi(std::string_view body, bool stream, OpenAiAnswer& out);

/** The one-pass scan with Boost.JSON's `basic_parser` (any size), as scanOpenAi(). */
bool scanOpenAiSax(std::string_view body, bool stream, OpenAiAnswer& out);

/** What a fast path (scanOpenAiPlain, scanOpenAiAnswerFast) made of a body. */
enum class FastScan : std::uint8_t {
  Answer,   // read: `out` holds what scanOpenAiSax(body, stream, out) would give
  GiveUp,   // scanOpenAiSax would give up too: the document path reads the body
  NotRead,  // not decided (simdjson refused the body, a counter is a fraction, too large, ...):
            // scanOpenAiSax must read it
};

/**
 * The fast path for a body without an escape (non-streamed or a chunk event's, as scanOpenAi()):
 * one pass by hand, sixteen bytes at a time through a string (SSE2), with the SAX scan's keys,
 * slots and give-ups. It decides only a body it checked whole against JSON's grammar (no wider than
 * Boost.JSON's: the same UTF-8 check, no comments or trailing commas); a backslash, invalid JSON,
 * a counter that is not a non-negative integer of at most 18 digits, an exponent of more than 4
 * digits or nesting deeper than 32 leave the body to the SAX scan (NotRead). `out` is reset first.
 */
FastScan scanOpenAiPlain(std::string_view body, bool stream, OpenAiAnswer& out);

/**
 * The largest non-streamed answer the simdjson fast path reads. Its parser, kept per thread once a
 * thread has used it, takes about 14 bytes per byte of the largest body it has read (~0.9 MB at 64
 * KiB).
 */
inline constexpr std::size_t kOpenAiAnswerFastBytes = 64 * 1024;

/**
 * The fast path for a non-streamed answer with an escape: simdjson's DOM parser (one per thread,
 * with a padded copy of the body in a buffer kept per thread), then the members that matter looked
 * up in document order with the same rules as the SAX scan. `out` is reset first.
 */
FastScan scanOpenAiAnswerFast(std::string_view body, OpenAiAnswer& out);

}  // namespace spendgate::core
