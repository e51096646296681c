#pragma once

#include <string_view>

namespace spendgate::core {

/** What a request's Expect fields ask of the proxy (RFC 9110 §10.1.1). */
struct Expectation {
  bool continue_expected = false;  // 100-continue is among them: answer "100 Continue" first
  std::string_view unmet;          // the first other expectation (417), empty when none
};

/**
 * Reads an Expect value (every field's value joined with ","): a list of expectations, of which
 * only `100-continue` (case-insensitive, without parameters) is defined and met. Empty list
 * elements and blanks around them are allowed (RFC 9110 §5.6.1).
 */
Expectation readExpectation(std::string_view expect);

}  // namespace spendgate::core
