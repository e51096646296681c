#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <optional>
#include <string>

#include "core/http/error_response.hpp"
#include "proxy/relay/request_parser.hpp"

namespace spendgate::proxy {

/** Why a request body could not be made plain, as the proxy answers it. */
struct RequestDecodingError {
  core::ProxyError error;  // UnsupportedEncoding, BadRequest or BodyTooLarge
  std::string message;
};

/**
 * Makes a request body plain before it is metered: undoes its Content-Encoding (gzip, x-gzip,
 * deflate, br, or a list of up to ContentDecoder::kMaxLayers of them, in every Content-Encoding
 * field) in place, and removes Content-Encoding with the digest fields of the encoded bytes
 * (Content-MD5, Digest, Content-Digest, Repr-Digest). The upstream then gets, and bills, exactly
 * the bytes that were metered; Content-Length is written from the new body when it is forwarded.
 *
 * A request without a coding (no field, only identity) or with an empty body is left as it is.
 * Call it only for metered endpoints: elsewhere the body is forwarded untouched.
 *
 * @param max_body_bytes the decoded body may not be larger (server.max_body_bytes).
 * @return nullopt when the body is plain now; else the error to answer (the request unchanged):
 *         UnsupportedEncoding for a coding spendgate cannot undo, BadRequest for a corrupt or
 *         truncated stream, BodyTooLarge beyond max_body_bytes.
 */
std::optional<RequestDecodingError> decodeRequestContent(
    boost::beast::http::request<boost::beast::http::string_body>& request,
    std::size_t max_body_bytes);
/** The same for a request read by RequestParser. */
std::optional<RequestDecodingError> decodeRequestContent(RequestParser& request,
                                                         std::size_t max_body_bytes);

}  // namespace spendgate::proxy
