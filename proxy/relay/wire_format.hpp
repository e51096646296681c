#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace spendgate::proxy {

/**
 * HTTP/1.1 header lines and chunk framing, written straight into a buffer. Beast's serializer
 * is general but costs more per message than the rest of the relay; header_rewrite.hpp writes
 * whole heads with these.
 */

/** Appends "name: value\r\n". */
void appendHeaderLine(std::string& out, std::string_view name, std::string_view value);

/** Appends a chunk-size line ("1a2f\r\n") for a chunk of `size` bytes. */
void appendChunkSize(std::string& out, std::size_t size);

}  // namespace spendgate::proxy
