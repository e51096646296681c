#include "proxy/relay/content_decoder.hpp"

#include <brotli/decode.h>
#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/memory/buffer_allowance.hpp"
#include "core/memory/buffer_grant.hpp"

namespace spendgate::proxy {

namespace {

// Output is produced in slices of this size, written straight into the caller's string.
constexpr std::size_t kChunk = 16 * 1024;

enum class Coding { Gzip, Deflate, Brotli };

/** One coding layer. Each layer has its own output cap, so no layer of a list can balloon. */
class Stage {
public:
  Stage(std::string_view name, std::size_t max_output) : name_(name), max_output_(max_output) {}
  virtual ~Stage() = default;

  /**
   * Decodes `in`, appending to `out`, and stops after the slice that takes what it appended to
   * `limit` or more. Bytes after the end of the stream are taken and ignored.
   * @return how many bytes of `in` it took; the rest is for the next call.
   */
  virtual std::size_t decode(std::string_view in, std::string& out, std::size_t limit) = 0;
  /** @return true when output may be left inside the coder with no more input. */
  virtual bool hasPendingOutput() const = 0;

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  bool finished() const { return finished_; }
  bool overCap() const { return over_cap_; }

protected:
  /** @return room for the next slice: one byte past the cap, so overflow can be detected. */
  std::size_t sliceSize() const {
    const std::size_t room = max_output_ - produced_;
    return room >= kChunk ? kChunk : room + 1;
  }

  /** Accounts for `produced` bytes written at out[before..]; trims and fails beyond the cap. */
  void account(std::string& out, std::size_t before, std::size_t produced) {
    const std::size_t room = max_output_ - produced_;
    if (produced > room) {
      out.resize(before + room);
      produced_ += room;
      over_cap_ = true;
      fail("decoded body exceeds " + std::to_string(max_output_) + " bytes");
      return;
    }
    out.resize(before + produced);
    produced_ += produced;
  }

  void fail(std::string_view what) { error_.assign(name_).append(": ").append(what); }

  bool finished_ = false;

private:
  std::string_view name_;
  std::size_t max_output_;
  std::size_t produced_ = 0;
  std::string error_;
  bool over_cap_ = false;
};

/** gzip (RFC 1952, several members allowed), zlib (RFC 1950) or raw deflate (RFC 1951). */
class ZlibStage final : public Stage {
public:
  ZlibStage(Coding coding, std::size_t max_output)
      : Stage(coding == Coding::Gzip ? "gzip" : "deflate", max_output), coding_(coding) {}

  ~ZlibStage() override {
    if (initialized_) inflateEnd(&zs_);
  }

  std::size_t decode(std::string_view in, std::string& out, std::size_t limit) override {
    const std::size_t given = in.size();
    if (failed() || done_) return given;
    const std::size_t start = out.size();
    if (!initialized_) {
      // "deflate" should be zlib-wrapped, but some servers send raw deflate. Sniff the two
      // header bytes (as browsers do): a valid zlib or gzip header means auto-detect, else raw.
      if (coding_ == Coding::Deflate) {
        const std::size_t take = std::min(in.size(), 2 - header_.size());
        header_.append(in.substr(0, take));
        in.remove_prefix(take);
        if (header_.size() < 2) return given;
      }
      if (!init(coding_ == Coding::Deflate && !looksWrapped(header_))) return given;
      if (!header_.empty()) {
        // Two bytes decode to nothing yet: they go in whole, under any limit.
        inflateSome(header_, out, start, SIZE_MAX);
        header_.clear();
      }
    }
    const std::size_t left = inflateSome(in, out, start, limit);
    return failed() || done_ ? given : given - left;
  }

  bool hasPendingOutput() const override { return pending_output_ && !failed() && !done_; }

private:
  static bool looksWrapped(std::string_view header) {
    const auto b0 = static_cast<unsigned char>(header[0]);
    const auto b1 = static_cast<unsigned char>(header[1]);
    const bool gzip = b0 == 0x1f && b1 == 0x8b;
    const bool zlib = (b0 & 0x0f) == Z_DEFLATED && (b0 >> 4) <= 7 && ((b0 << 8) | b1) % 31 == 0;
    return gzip || zlib;
  }

  bool init(bool raw) {
    raw_ = raw;
    // 15 + 32: zlib or gzip header, detected automatically; -15: no header at all.
    const int rc = inflateInit2(&zs_, raw ? -MAX_WBITS : MAX_WBITS + 32);
    if (rc != Z_OK) {
      fail(zs_.msg != nullptr ? zs_.msg : "inflateInit2 failed");
      return false;
    }
    initialized_ = true;
    return true;
  }

  /**
   * Inflates `in` until it is used up or out has grown `limit` past `start`.
   * @return how many bytes of `in` are left.
   */
  std::size_t inflateSome(std::string_view in,
                          std::string& out,
                          std::size_t start,
                          std::size_t limit) {
    // Output zlib still holds from the last call comes first, also with no new input.
    if (in.empty() && hasPendingOutput()) {
      zs_.next_in = nullptr;
      zs_.avail_in = 0;
      inflateInput(out, start, limit);
    }
    while (!in.empty() && !failed() && !done_) {
      if (out.size() - start >= limit) return in.size();
      if (finished_) {
        // The stream ended. Another gzip member may follow; anything else is trailing junk
        // (padding, typically) and ignored: the metering copy has all the body had to say.
        if (raw_ || static_cast<unsigned char>(in.front()) != 0x1f) {
          done_ = true;
          return 0;
        }
        inflateReset(&zs_);
        finished_ = false;
      }
      const std::size_t take = std::min<std::size_t>(in.size(), UINT_MAX);
      zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
      zs_.avail_in = static_cast<uInt>(take);
      inflateInput(out, start, limit);
      in.remove_prefix(take - zs_.avail_in);
    }
    return in.size();
  }

  /**
   * Inflates zs_'s pending input until it is used up, the stream ends, an error, or out has grown
   * `limit` past `start` (then zlib may hold more output: pending_output_).
   */
  void inflateInput(std::string& out, std::size_t start, std::size_t limit) {
    pending_output_ = false;
    for (;;) {
      if (out.size() - start >= limit) {
        pending_output_ = true;
        return;
      }
      const std::size_t before = out.size();
      const std::size_t slice = sliceSize();
      out.resize(before + slice);
      zs_.next_out = reinterpret_cast<Bytef*>(out.data() + before);
      zs_.avail_out = static_cast<uInt>(slice);
      const int rc = inflate(&zs_, Z_NO_FLUSH);
      account(out, before, slice - zs_.avail_out);
      if (failed()) return;
      switch (rc) {
        case Z_OK:
          // A full slice may leave output pending inside zlib even with no input left.
          if (zs_.avail_in == 0 && zs_.avail_out != 0) return;
          break;
        case Z_BUF_ERROR:  // No progress possible: needs more input. Not an error.
          return;
        case Z_STREAM_END:
          finished_ = true;
          return;
        case Z_NEED_DICT:
          fail("stream needs a preset dictionary");
          return;
        default:
          fail(zs_.msg != nullptr ? zs_.msg : "inflate failed (" + std::to_string(rc) + ")");
          return;
      }
    }
  }

  Coding coding_;
  z_stream zs_{};
  bool initialized_ = false;
  bool raw_ = false;
  bool done_ = false;  // ended and followed by non-gzip bytes: ignore everything from here on
  bool pending_output_ = false;  // stopped at the limit: zlib may hold output with no input
  std::string header_;           // deflate only: the first bytes, kept until the format is known
};

/**
 * A brotli decoder's allocations, counted: past its first BufferGrant::kFree bytes they are
 * taken from the allowance (exactly, per block), past its total when it has no room left. A
 * refused block would fail the decoding, and with it the body the client gets (review 22 F6);
 * brotli bounds them itself: a window of at most 16 MiB (large windows are not enabled), briefly
 * twice while it grows, and its tables. The other buffers find the allowance full and degrade.
 */
class CountedAlloc {
public:
  explicit CountedAlloc(core::BufferAllowance* buffers) : buffers_(buffers) {}

  static void* allocate(void* opaque, std::size_t size) {
    return static_cast<CountedAlloc*>(opaque)->allocate(size);
  }
  static void release(void* opaque, void* address) {
    static_cast<CountedAlloc*>(opaque)->release(address);
  }

private:
  // Each block starts with its size, so that freeing it knows what to give back.
  static constexpr std::size_t kHeader = alignof(std::max_align_t);

  void* allocate(std::size_t size) {
    const std::size_t free_left =
        core::BufferGrant::kFree - std::min(held_, core::BufferGrant::kFree);
    const std::size_t counted = size > free_left ? size - free_left : 0;
    if (counted > 0 && !buffers_->take(counted)) buffers_->takeAnyway(counted);
    auto* block = static_cast<unsigned char*>(std::malloc(kHeader + size));
    if (block == nullptr) {
      if (counted > 0) buffers_->giveBack(counted);
      return nullptr;
    }
    const std::size_t sizes[2] = {size, counted};
    std::memcpy(block, sizes, sizeof sizes);
    held_ += size - counted;
    return block + kHeader;
  }

  void release(void* address) {
    if (address == nullptr) return;
    auto* block = static_cast<unsigned char*>(address) - kHeader;
    std::size_t sizes[2];
    std::memcpy(sizes, block, sizeof sizes);
    held_ -= sizes[0] - sizes[1];
    if (sizes[1] > 0) buffers_->giveBack(sizes[1]);
    std::free(block);
  }

  core::BufferAllowance* buffers_;
  std::size_t held_ = 0;  // bytes of blocks not taken from the allowance
};

/** Brotli (RFC 7932). */
class BrotliStage final : public Stage {
public:
  BrotliStage(std::size_t max_output, core::BufferAllowance* buffers)
      : Stage("br", max_output), alloc_(buffers) {
    state_ = buffers != nullptr ? BrotliDecoderCreateInstance(&CountedAlloc::allocate,
                                                              &CountedAlloc::release, &alloc_)
                                : BrotliDecoderCreateInstance(nullptr, nullptr, nullptr);
    if (state_ == nullptr) fail("out of memory");
  }

  ~BrotliStage() override {
    if (state_ != nullptr) BrotliDecoderDestroyInstance(state_);
  }

  std::size_t decode(std::string_view in, std::string& out, std::size_t limit) override {
    if (failed() || finished_) return in.size();
    if (in.empty() && !hasPendingOutput()) return 0;
    std::size_t avail_in = in.size();
    const auto* next_in = reinterpret_cast<const std::uint8_t*>(in.data());
    const std::size_t start = out.size();
    const auto taken = [&] { return failed() || finished_ ? in.size() : in.size() - avail_in; };
    for (;;) {
      if (out.size() - start >= limit) return taken();
      const std::size_t before = out.size();
      const std::size_t slice = sliceSize();
      out.resize(before + slice);
      std::size_t avail_out = slice;
      auto* next_out = reinterpret_cast<std::uint8_t*>(out.data() + before);
      const BrotliDecoderResult rc = BrotliDecoderDecompressStream(state_, &avail_in, &next_in,
                                                                   &avail_out, &next_out, nullptr);
      account(out, before, slice - avail_out);
      if (failed()) return taken();
      switch (rc) {
        case BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT:
          break;
        case BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT:
          return taken();
        case BROTLI_DECODER_RESULT_SUCCESS:  // Bytes after the end are ignored.
          finished_ = true;
          return taken();
        default:
          fail(describe(BrotliDecoderGetErrorCode(state_)));
          return taken();
      }
    }
  }

  bool hasPendingOutput() const override {
    return !failed() && !finished_ && BrotliDecoderHasMoreOutput(state_) == BROTLI_TRUE;
  }

private:
  static std::string describe(BrotliDecoderErrorCode code) {
    if (code >= BROTLI_DECODER_ERROR_ALLOC_BLOCK_TYPE_TREES &&
        code <= BROTLI_DECODER_ERROR_ALLOC_CONTEXT_MODES) {
      // malloc failed: CountedAlloc never refuses a block for the allowance.
      return std::string("out of memory: ") + BrotliDecoderErrorString(code);
    }
    return BrotliDecoderErrorString(code);
  }

  CountedAlloc alloc_;  // before state_: it outlives the decoder's blocks
  BrotliDecoderState* state_ = nullptr;
};

bool iequals(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    const auto lower = [](char c) {
      return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    };
    return lower(x) == lower(y);
  });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

class ContentDecoder::Impl {
public:
  explicit Impl(std::string unsupported) : error_(std::move(unsupported)) {}
  explicit Impl(std::vector<std::unique_ptr<Stage>> stages) : stages_(std::move(stages)) {
    for (const auto& stage : stages_) {
      if (stage->failed() && error_.empty()) error_ = stage->error();
    }
  }

  void push(std::string_view encoded) {
    if (!error_.empty() || stages_.empty()) return;
    input_.erase(0, input_at_);
    input_at_ = 0;
    input_.append(encoded);
  }

  bool pull(std::string& out, std::size_t limit) {
    if (!error_.empty() || stages_.empty()) return false;
    const std::size_t before = out.size();
    produce(stages_.size() - 1, out, limit);
    decoded_ += out.size() - before;
    return hasOutput();
  }

  bool hasOutput() const {
    if (!error_.empty()) return false;
    if (input_at_ < input_.size()) return true;
    for (std::size_t i = 0; i < stages_.size(); ++i) {
      if (stages_[i]->hasPendingOutput()) return true;
      if (i + 1 < stages_.size() && between_at_[i] < between_[i].size()) return true;
    }
    return false;
  }

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  bool tooLarge() const { return too_large_; }
  std::size_t decodedBytes() const { return decoded_; }
  bool finished() const {
    return !stages_.empty() &&
           std::all_of(stages_.begin(), stages_.end(), [](const auto& s) { return s->finished(); });
  }

private:
  /**
   * Appends stage i's output to `out` until it has grown `limit` or more, or stage i has no
   * input left; an inner stage's input is refilled from the stage before it, one slice at a
   * time, so no buffer between stages grows past a slice or two.
   */
  void produce(std::size_t i, std::string& out, std::size_t limit) {
    Stage& stage = *stages_[i];
    std::string& in = i == 0 ? input_ : between_[i - 1];
    std::size_t& at = i == 0 ? input_at_ : between_at_[i - 1];
    const std::size_t start = out.size();
    // After an error, what the failing layer produced still goes down the chain.
    while (out.size() - start < limit) {
      if (at == in.size() && !stage.hasPendingOutput()) {
        if (i == 0 || !error_.empty()) break;
        in.clear();
        at = 0;
        produce(i - 1, in, kChunk);
        if (in.empty()) break;
      }
      const std::size_t produced_before = out.size();
      const std::size_t taken =
          stage.decode(std::string_view(in).substr(at), out, limit - (out.size() - start));
      at += taken;
      if (stage.failed() && error_.empty()) {
        error_ = stage.error();
        too_large_ = stage.overCap();
      }
      if (taken == 0 && at < in.size() && out.size() == produced_before &&
          !stage.hasPendingOutput()) {
        // Never spin on input a coder will not take.
        if (error_.empty()) error_ = "decoder made no progress";
        break;
      }
    }
    if (i == 0 && at == in.size()) {
      in.clear();
      at = 0;
    }
  }

  std::vector<std::unique_ptr<Stage>> stages_;  // in decoding order: last coding applied first
  std::string error_;
  bool too_large_ = false;
  std::size_t decoded_ = 0;
  std::string input_;  // pushed, not yet decoded: input_[input_at_..]
  std::size_t input_at_ = 0;
  std::string between_[kMaxLayers - 1];  // stage i's output, stage i+1's input
  std::size_t between_at_[kMaxLayers - 1] = {};
};

std::unique_ptr<ContentDecoder> ContentDecoder::create(std::string_view content_encoding,
                                                       std::size_t max_output,
                                                       core::BufferAllowance* buffers) {
  std::vector<Coding> codings;  // in the order they were applied
  std::string_view rest = content_encoding;
  while (true) {
    const auto comma = rest.find(',');
    const std::string_view token = trim(rest.substr(0, comma));
    if (token.empty() || iequals(token, "identity")) {
      // Nothing to undo.
    } else if (iequals(token, "gzip") || iequals(token, "x-gzip")) {
      codings.push_back(Coding::Gzip);
    } else if (iequals(token, "deflate")) {
      codings.push_back(Coding::Deflate);
    } else if (iequals(token, "br")) {
      codings.push_back(Coding::Brotli);
    } else {
      return std::unique_ptr<ContentDecoder>(new ContentDecoder(
          std::make_unique<Impl>("unsupported Content-Encoding: " + std::string(token))));
    }
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  if (codings.empty()) return nullptr;
  if (codings.size() > kMaxLayers) {
    return std::unique_ptr<ContentDecoder>(new ContentDecoder(std::make_unique<Impl>(
        "unsupported Content-Encoding: more than " + std::to_string(kMaxLayers) + " codings")));
  }

  std::vector<std::unique_ptr<Stage>> stages;
  for (auto it = codings.rbegin(); it != codings.rend(); ++it) {
    if (*it == Coding::Brotli) {
      stages.push_back(std::make_unique<BrotliStage>(max_output, buffers));
    } else {
      stages.push_back(std::make_unique<ZlibStage>(*it, max_output));
    }
  }
  auto impl = std::make_unique<Impl>(std::move(stages));
  return std::unique_ptr<ContentDecoder>(new ContentDecoder(std::move(impl)));
}

ContentDecoder::ContentDecoder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ContentDecoder::~ContentDecoder() = default;

void ContentDecoder::feed(std::string_view encoded, std::string& out) {
  impl_->push(encoded);
  impl_->pull(out, SIZE_MAX);
}
void ContentDecoder::push(std::string_view encoded) { impl_->push(encoded); }
bool ContentDecoder::pull(std::string& out, std::size_t limit) { return impl_->pull(out, limit); }
bool ContentDecoder::hasOutput() const { return impl_->hasOutput(); }
bool ContentDecoder::ok() const { return impl_->ok(); }
std::string ContentDecoder::error() const { return impl_->error(); }
bool ContentDecoder::tooLarge() const { return impl_->tooLarge(); }
std::size_t ContentDecoder::decodedBytes() const { return impl_->decodedBytes(); }
bool ContentDecoder::finished() const { return impl_->finished(); }

}  // namespace spendgate::proxy
