#pragma once

#include <boost/beast/http/message.hpp>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace spendgate::proxy {

/**
 * HTTP/1.1 message heads and chunk framing, written straight into a buffer. Beast's serializer
 * is general but costs more per message than the rest of the relay; these cover what a
 * proxy sends: a head it has already rewritten, then body pieces.
 */

/** Appends "METHOD target HTTP/1.1\r\n", every field, and the blank line. */
void appendRequestHead(std::string& out, const boost::beast::http::request_header<>& head);

/**
 * Appends "HTTP/1.1 status reason\r\n", every field, `extra` (header lines already formatted
 * by appendHeaderLine: the proxy's own headers, kept out of Beast's field container), and the
 * blank line.
 */
void appendResponseHead(std::string& out,
                        const boost::beast::http::response_header<>& head,
                        std::string_view extra = {});

/** Appends "name: value\r\n". */
void appendHeaderLine(std::string& out, std::string_view name, std::string_view value);

/**
 * Removes, in one pass, every field named one of `names` (compared without case): headers the
 * proxy writes itself must not also come from the upstream.
 */
void eraseFieldsNamed(boost::beast::http::fields& fields, std::span<const std::string_view> names);

/** Appends a chunk-size line ("1a2f\r\n") for a chunk of `size` bytes. */
void appendChunkSize(std::string& out, std::size_t size);

}  // namespace spendgate::proxy
