// loadConfigString / parsePriceCatalog (config/): YAML written by an operator, possibly broken.
// Input: 1 option byte (even: the config loader, odd: the price catalog loader), then the YAML.
// Invariants: nothing escapes as an exception; the result is either a value or errors, never
// both or neither, and every error names the source ("FILE:").

#include <string>

#include "config/config_loader.hpp"
#include "config/price_catalog_loader.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace {

void checkErrors(const std::vector<std::string>& errors) {
  for (const std::string& e : errors) FUZZ_CHECK(e.rfind("fuzz.yaml:", 0) == 0);
}

}  // namespace

SPENDGATE_FUZZ_TARGET(config_loader) {
  spendgate::fuzz::Input in(data, size);
  const std::uint8_t option = in.byte();
  const std::string yaml(in.rest());
  if ((option & 1) == 0) {
    const auto result = spendgate::config::loadConfigString(yaml, "fuzz.yaml");
    FUZZ_CHECK(result.config.has_value() != !result.errors.empty());
    checkErrors(result.errors);
    if (result.config) FUZZ_CHECK(result.config->source == "fuzz.yaml");
  } else {
    const auto result = spendgate::config::parsePriceCatalog(yaml, "fuzz.yaml");
    FUZZ_CHECK(result.catalog.has_value() != !result.errors.empty());
    checkErrors(result.errors);
  }
  return 0;
}
