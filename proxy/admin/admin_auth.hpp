#pragma once

#include <string_view>

namespace spendgate::proxy {

/**
 * @return true when an `Authorization` value carries `token` as a Bearer credential. The scheme is
 * read like the proxy side reads it (bearerToken(): any case, any run of SP/HTAB), and the tokens
 * are compared through their SHA-256 digests with CRYPTO_memcmp, so the time taken depends neither
 * on where they differ nor on the token's length. An empty `token` matches nothing.
 */
bool adminTokenMatches(std::string_view authorization, std::string_view token);

}  // namespace spendgate::proxy
