// The config's scalar parsers (config/duration, listen_address, upstream_url).
// Input: 1 option byte (selects the parser), then the text.
// Invariants: what parses prints back to text that parses to the same value:
// formatDuration, ListenAddress::toString, and an UpstreamUrl rebuilt from its scheme,
// hostHeader() and path_prefix.

#include <string>
#include <string_view>

#include "config/duration.hpp"
#include "config/listen_address.hpp"
#include "config/upstream_url.hpp"
#include "tests/fuzz/fuzz_support.hpp"

SPENDGATE_FUZZ_TARGET(config_values) {
  using namespace spendgate::config;
  spendgate::fuzz::Input in(data, size);
  const std::uint8_t option = in.byte();
  const std::string_view text = in.rest();
  switch (option % 3) {
    case 0:
      if (const auto d = parseDuration(text)) {
        FUZZ_CHECK(d->count() >= 0);
        const auto again = parseDuration(formatDuration(*d));
        FUZZ_CHECK(again == d);
      }
      break;
    case 1: {
      std::string why;
      (void)isLoopbackHost(text);
      if (const auto a = parseListenAddress(text, &why)) {
        FUZZ_CHECK(why.empty());
        const auto again = parseListenAddress(a->toString());
        FUZZ_CHECK(again == a);
      } else {
        FUZZ_CHECK(!why.empty());
      }
      break;
    }
    case 2: {
      std::string why;
      if (const auto u = parseUpstreamUrl(text, &why)) {
        FUZZ_CHECK(!u->host.empty());
        const std::string rebuilt =
            std::string(u->tls ? "https://" : "http://") + u->hostHeader() + u->path_prefix;
        const auto again = parseUpstreamUrl(rebuilt);
        FUZZ_CHECK(again == u);
      } else {
        FUZZ_CHECK(!why.empty());
      }
      break;
    }
  }
  return 0;
}
