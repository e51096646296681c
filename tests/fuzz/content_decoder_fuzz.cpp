// ContentDecoder (proxy/relay/content_decoder.hpp): the metering copy of an upstream body in its
// Content-Encoding (gzip, deflate, br, stacked), split anywhere.
// Input: 1 option byte (picks the Content-Encoding and a small output cap), 7 chunk-size bytes
// (fuzz_support.hpp), then the encoded body.
// Invariants: ok() does not depend on the split, nor do the output and finished() while ok
// (past the cap, how much came out before the error may); decodedBytes() is what was appended
// and never exceeds the cap; nothing is appended after an error.

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/relay/content_decoder.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace {

using spendgate::proxy::ContentDecoder;

constexpr std::array<std::string_view, 8> kEncodings = {
    "gzip",          "deflate",         "br",        "x-gzip", "gzip, br",
    "deflate, gzip", "GZIP , identity", "br, br, br"};

struct Decoded {
  std::string out;
  bool ok = false, finished = false;
  friend bool operator==(const Decoded&, const Decoded&) = default;
};

Decoded decode(std::string_view encoding,
               std::size_t cap,
               const std::vector<std::string_view>& pieces) {
  auto decoder = ContentDecoder::create(encoding, cap);
  FUZZ_CHECK(decoder != nullptr);
  Decoded d;
  for (const std::string_view piece : pieces) {
    const bool was_ok = decoder->ok();
    const std::size_t before = d.out.size();
    decoder->feed(piece, d.out);
    if (!was_ok) FUZZ_CHECK(d.out.size() == before);
    FUZZ_CHECK(decoder->decodedBytes() == d.out.size());
    FUZZ_CHECK(d.out.size() <= cap);
    FUZZ_CHECK(decoder->ok() == decoder->error().empty());
  }
  d.ok = decoder->ok();
  d.finished = decoder->finished();
  return d;
}

}  // namespace

SPENDGATE_FUZZ_TARGET(content_decoder) {
  spendgate::fuzz::Input in(data, size);
  const std::uint8_t option = in.byte();
  const std::string_view cuts = in.take(spendgate::fuzz::kCutBytes);
  const std::string_view body = in.rest();
  const std::string_view encoding = kEncodings[option & 7];
  const std::size_t cap = (option & 8) != 0 ? 1 + (option >> 4) * 64 : 1u << 20;
  const Decoded whole = decode(encoding, cap, {body});
  const Decoded pieces = decode(encoding, cap, spendgate::fuzz::chunks(body, cuts));
  FUZZ_CHECK(whole.ok == pieces.ok);
  // Past the cap, how much came out before the error may depend on the split; otherwise not.
  if (whole.ok) FUZZ_CHECK(whole == pieces);
  return 0;
}
