#include "core/http/transfer_coding.hpp"

#include "core/http/field_list.hpp"

namespace spendgate::core {

bool isChunkedAlone(std::string_view transfer_encoding) {
  int codings = 0;
  bool chunked = false;
  // A coding with parameters ("chunked;x=1") is not plain chunked: it does not match.
  forEachListElement(transfer_encoding, [&](std::string_view element) {
    ++codings;
    chunked = equalsToken(element, "chunked");
  });
  return codings == 1 && chunked;
}

}  // namespace spendgate::core
