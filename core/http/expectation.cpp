#include "core/http/expectation.hpp"

#include "core/http/field_list.hpp"

namespace spendgate::core {

Expectation readExpectation(std::string_view expect) {
  Expectation out;
  forEachListElement(expect, [&out](std::string_view element) {
    if (equalsToken(element, "100-continue")) {
      out.continue_expected = true;
    } else if (out.unmet.empty()) {
      out.unmet = element;
    }
  });
  return out;
}

}  // namespace spendgate::core
