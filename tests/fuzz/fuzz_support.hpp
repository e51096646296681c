#pragma once

// Shared by the libFuzzer harnesses (tests/fuzz/*_fuzz.cpp) and the corpus replay test that runs
// the same harness code under GCC (tests/fuzz/corpus_replay_test.cpp).
//
// SPENDGATE_FUZZ_TARGET(name) defines a harness body. Built with SPENDGATE_LIBFUZZER it is this
// binary's LLVMFuzzerTestOneInput; otherwise it is registered under `name` so the replay test can
// feed it every file of tests/fuzz/corpus/<name>/. FUZZ_CHECK(cond) states an invariant: under
// libFuzzer a violation aborts (a crash to triage), under the replay test it throws and the test
// fails with the input's file name.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace spendgate::fuzz {

using TargetFn = int (*)(const std::uint8_t* data, std::size_t size);

struct Target {
  const char* name;
  TargetFn fn;
};

/** Every harness linked into this binary (replay test only). */
inline std::vector<Target>& targets() {
  static std::vector<Target> all;
  return all;
}

struct Registrar {
  Registrar(const char* name, TargetFn fn) { targets().push_back({name, fn}); }
};

/** An invariant failed. */
[[noreturn]] inline void fail(const char* what, const char* file, int line) {
#ifdef SPENDGATE_LIBFUZZER
  std::fprintf(stderr, "%s:%d: invariant failed: %s\n", file, line, what);
  std::abort();
#else
  throw std::logic_error(std::string(file) + ":" + std::to_string(line) +
                         ": invariant failed: " + what);
#endif
}

/**
 * Reads a harness input front to back: a few control bytes first (0 once exhausted), then the
 * payload (the rest).
 */
class Input {
public:
  Input(const std::uint8_t* data, std::size_t size)
      : bytes_(reinterpret_cast<const char*>(data), size) {}

  std::uint8_t byte() {
    if (bytes_.empty()) return 0;
    const auto b = static_cast<std::uint8_t>(bytes_.front());
    bytes_.remove_prefix(1);
    return b;
  }

  /** Up to `n` bytes (fewer when the input runs out). */
  std::string_view take(std::size_t n) {
    const std::string_view out = bytes_.substr(0, n);
    bytes_.remove_prefix(out.size());
    return out;
  }

  std::string_view rest() const { return bytes_; }

private:
  std::string_view bytes_;
};

/** How many control bytes pick the chunk sizes of a streamed payload. */
constexpr std::size_t kCutBytes = 7;

/**
 * Splits `payload` into the pieces a socket might deliver: sizes cycle through `cuts`, a 0 meaning
 * "the rest". All-zero cuts give one piece. Bytes arrive split anywhere, so streaming parsers are
 * fed these pieces one by one and compared with a single feed of the whole payload.
 */
inline std::vector<std::string_view> chunks(std::string_view payload, std::string_view cuts) {
  std::vector<std::string_view> out;
  std::size_t k = 0;
  while (!payload.empty()) {
    std::size_t n = payload.size();
    if (!cuts.empty()) {
      const auto c = static_cast<std::uint8_t>(cuts[k++ % cuts.size()]);
      if (c != 0) n = c;
    }
    if (n > payload.size()) n = payload.size();
    out.push_back(payload.substr(0, n));
    payload.remove_prefix(n);
  }
  return out;
}

}  // namespace spendgate::fuzz

#define FUZZ_CHECK(cond) \
  ((cond) ? static_cast<void>(0) : ::spendgate::fuzz::fail(#cond, __FILE__, __LINE__))

#ifdef SPENDGATE_LIBFUZZER
#define SPENDGATE_FUZZ_TARGET(name)                                                   \
  static int spendgateFuzz_##name(const std::uint8_t* data, std::size_t size);        \
  extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) { \
    return spendgateFuzz_##name(data, size);                                          \
  }                                                                                   \
  static int spendgateFuzz_##name(const std::uint8_t* data, std::size_t size)
#else
#define SPENDGATE_FUZZ_TARGET(name)                                                               \
  static int spendgateFuzz_##name(const std::uint8_t* data, std::size_t size);                    \
  static const ::spendgate::fuzz::Registrar spendgateFuzzRegistrar_##name(#name,                  \
                                                                          &spendgateFuzz_##name); \
  static int spendgateFuzz_##name(const std::uint8_t* data, std::size_t size)
#endif
