#pragma once

#include <string_view>

namespace spendgate::core {

/**
 * @return true when a request's Transfer-Encoding (every field's value, joined with ",") names
 * exactly one transfer coding, `chunked`: the only one the proxy can undo. Beast's parser frames a
 * body by a final `chunked` and ignores the codings before it, so "gzip, chunked" would go upstream
 * still gzipped and unlabelled; RFC 9112 §6.1 has such a request answered 501. Empty list elements
 * and blanks around them are allowed (RFC 9110 §5.6.1), the name is case-insensitive.
 */
bool isChunkedAlone(std::string_view transfer_encoding);

}  // namespace spendgate::core
