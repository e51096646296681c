#include "core/http/expectation.hpp"

#include <cctype>

namespace spendgate::core {

namespace {

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool isContinue(std::string_view expectation) {
  constexpr std::string_view kContinue = "100-continue";
  if (expectation.size() != kContinue.size()) return false;
  for (std::size_t i = 0; i < expectation.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(expectation[i])) != kContinue[i]) return false;
  }
  return true;
}

}  // namespace

Expectation readExpectation(std::string_view expect) {
  Expectation out;
  while (true) {
    const auto comma = expect.find(',');
    const std::string_view element = trimmed(expect.substr(0, comma));
    if (!element.empty()) {
      if (isContinue(element)) {
        out.continue_expected = true;
      } else if (out.unmet.empty()) {
        out.unmet = element;
      }
    }
    if (comma == std::string_view::npos) break;
    expect.remove_prefix(comma + 1);
  }
  return out;
}

}  // namespace spendgate::core
