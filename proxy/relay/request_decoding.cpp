#include "proxy/relay/request_decoding.hpp"

#include <string_view>

#include "proxy/relay/content_decoder.hpp"

namespace spendgate::proxy {

namespace http = boost::beast::http;

namespace {

/** decodeRequestContent for either kind of fields (Beast's, FlatFields) and the body. */
template <class Fields>
std::optional<RequestDecodingError> decodeContent(Fields& fields,
                                                  std::string& body,
                                                  std::size_t max_body_bytes) {
  // Several Content-Encoding fields are one list (RFC 9110 §5.3), in the order they came.
  std::string codings;
  for (const auto& field : fields) {
    if (field.name() != http::field::content_encoding) continue;
    if (!codings.empty()) codings += ", ";
    codings.append(field.value());
  }
  if (codings.empty() || body.empty()) return std::nullopt;
  auto decoder = ContentDecoder::create(codings, max_body_bytes);
  if (!decoder) return std::nullopt;  // identity only
  if (!decoder->ok()) {
    return RequestDecodingError{
        core::ProxyError::UnsupportedEncoding,
        "request Content-Encoding \"" + codings +
            "\" is not supported: spendgate reads the body of a metered request; send it plain "
            "or as gzip, deflate or br"};
  }

  std::string plain;
  decoder->feed(body, plain);
  if (decoder->tooLarge()) {
    return RequestDecodingError{core::ProxyError::BodyTooLarge,
                                "request body is larger than " + std::to_string(max_body_bytes) +
                                    " bytes once decoded (Content-Encoding: " + codings + ")"};
  }
  if (!decoder->ok() || !decoder->finished()) {
    const std::string why = decoder->ok() ? "the encoded stream ends early" : decoder->error();
    return RequestDecodingError{
        core::ProxyError::BadRequest,
        "request body does not decode as its Content-Encoding (" + codings + "): " + why};
  }

  body = std::move(plain);
  // The coding is undone, and digests of the coded bytes no longer describe the body.
  fields.erase(http::field::content_encoding);
  fields.erase(http::field::content_md5);
  fields.erase(http::field::digest);
  fields.erase("Content-Digest");
  fields.erase("Repr-Digest");
  return std::nullopt;
}

}  // namespace

std::optional<RequestDecodingError> decodeRequestContent(http::request<http::string_body>& request,
                                                         std::size_t max_body_bytes) {
  return decodeContent(request.base(), request.body(), max_body_bytes);
}

std::optional<RequestDecodingError> decodeRequestContent(RequestParser& request,
                                                         std::size_t max_body_bytes) {
  return decodeContent(request.fields(), request.body(), max_body_bytes);
}

}  // namespace spendgate::proxy
