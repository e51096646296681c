#include "core/usage/json_scratch.hpp"

#include <boost/json/parse_options.hpp>

namespace spendgate::core {

namespace {

boost::json::parse_options optionsWithDepth(std::size_t max_depth) {
  boost::json::parse_options options;
  options.max_depth = max_depth;
  return options;
}

}  // namespace

JsonScratch::JsonScratch(std::size_t max_depth)
    : resource_(arena_, sizeof(arena_)), parser_({}, optionsWithDepth(max_depth)) {}

const boost::json::value* JsonScratch::parse(std::string_view text) noexcept {
  try {
    // Destroy the previous document before recycling the arena it lives in.
    value_.reset();
    resource_.release();
    parser_.reset(boost::json::storage_ptr(&resource_));
    boost::system::error_code ec;
    parser_.write(text.data(), text.size(), ec);
    if (ec) {
      parser_.reset();
      return nullptr;
    }
    value_.emplace(parser_.release());
    return &*value_;
  } catch (...) {  // allocation failure: report "unparseable" rather than crash the relay
    value_.reset();
    parser_.reset();
    return nullptr;
  }
}

}  // namespace spendgate::core
