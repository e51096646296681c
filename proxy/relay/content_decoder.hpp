#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace spendgate::core {
class BufferAllowance;
}

namespace spendgate::proxy {

/**
 * Incremental decoder of an HTTP Content-Encoding (gzip, deflate, br) for the metering copy of a
 * response body. The proxy relays the upstream's bytes unchanged and feeds a decoded copy to its
 * usage parser; this class produces that copy. It never throws: a bad stream, an unsupported
 * encoding or a body beyond the output cap turns ok() false and later calls do nothing.
 *
 * A list ("gzip, br": gzip applied first, then br) is decoded in reverse order, up to
 * kMaxLayers codings. gzip accepts several concatenated members; deflate accepts both the zlib
 * format (RFC 9110) and raw deflate (sent by some servers). Bytes after the end of a stream are
 * ignored.
 */
class ContentDecoder {
public:
  /** Cap on decoded bytes per response (zip-bomb guard). */
  static constexpr std::size_t kDefaultMaxOutput = 64 * 1024 * 1024;
  /** Most codings a Content-Encoding list may stack; longer lists are unsupported. */
  static constexpr std::size_t kMaxLayers = 3;

  /**
   * @param content_encoding the header value: "gzip", "x-gzip", "deflate", "br", "identity" or
   *        "", case-insensitive, or a comma-separated list of them.
   * @param max_output decoding stops with an error once more bytes than this would come out.
   * @param buffers what all requests together may hold past 1 MiB each: a brotli decoder's
   *        memory (its window, which the answer chooses: up to 16 MiB) past 1 MiB is counted in
   *        it, past its total when it has no room (the decoding goes on; the other buffers then
   *        degrade). None: not counted.
   * @return nullptr when no decoding is needed (empty, or only identity); for an unsupported
   *         coding (e.g. "zstd", "compress") a decoder whose ok() is false from the start.
   */
  static std::unique_ptr<ContentDecoder> create(std::string_view content_encoding,
                                                std::size_t max_output = kDefaultMaxOutput,
                                                core::BufferAllowance* buffers = nullptr);

  ~ContentDecoder();
  ContentDecoder(const ContentDecoder&) = delete;
  ContentDecoder& operator=(const ContentDecoder&) = delete;

  /**
   * Decodes the next piece of the encoded body (any split is fine) and appends the plain bytes
   * to `out`. After an error, ok() is false and further calls append nothing; bytes decoded
   * before the error (up to max_output) have been appended.
   */
  void feed(std::string_view encoded, std::string& out);

  /**
   * Takes the next piece of the encoded body without decoding it: pull() decodes it a bounded
   * amount at a time, so a relay decodes no faster than its client reads (a small compressed
   * piece can decode to megabytes).
   */
  void push(std::string_view encoded);
  /**
   * Decodes what push() gave, appending to `out` until it has grown by `limit` or more (at most
   * one 16 KiB slice more) or nothing is left to decode.
   * @return hasOutput(): true while more can come out without another push().
   */
  bool pull(std::string& out, std::size_t limit);
  /** @return true while pushed input (or output a coder holds) is still to come out. */
  bool hasOutput() const;

  /** @return false after a decoding error, beyond max_output, or for an unsupported coding. */
  bool ok() const;
  /** @return why ok() is false; empty while it is true. */
  std::string error() const;
  /** @return true when ok() turned false because a layer's output passed max_output. */
  bool tooLarge() const;
  /** @return total bytes appended by feed() so far. */
  std::size_t decodedBytes() const;
  /**
   * @return true once the encoded stream reached its end (every coding layer). A body that ends
   *         while this is false was truncated; what was decodable has still been delivered.
   */
  bool finished() const;

private:
  class Impl;
  explicit ContentDecoder(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

using ContentDecoderPtr = std::unique_ptr<ContentDecoder>;

}  // namespace spendgate::proxy
