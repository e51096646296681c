#include "core/http/transfer_coding.hpp"

#include <cctype>

namespace spendgate::core {

namespace {

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool isChunked(std::string_view coding) {
  constexpr std::string_view kChunked = "chunked";
  if (coding.size() != kChunked.size()) return false;
  for (std::size_t i = 0; i < coding.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(coding[i])) != kChunked[i]) return false;
  }
  return true;
}

}  // namespace

bool isChunkedAlone(std::string_view transfer_encoding) {
  int codings = 0;
  bool chunked = false;
  while (true) {
    const auto comma = transfer_encoding.find(',');
    // A coding with parameters ("chunked;x=1") is not plain chunked: it does not match.
    const std::string_view element = trimmed(transfer_encoding.substr(0, comma));
    if (!element.empty()) {
      ++codings;
      chunked = isChunked(element);
    }
    if (comma == std::string_view::npos) break;
    transfer_encoding.remove_prefix(comma + 1);
  }
  return codings == 1 && chunked;
}

}  // namespace spendgate::core
