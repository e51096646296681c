#include "core/usage/json_scratch.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/parser.hpp>
#include <optional>

namespace spendgate::core {

namespace {

boost::json::parse_options optionsWithDepth(std::size_t max_depth) {
  boost::json::parse_options options;
  options.max_depth = max_depth;
  return options;
}

}  // namespace

struct JsonScratch::State {
  explicit State(std::size_t max_depth)
      : resource(arena, sizeof(arena)), parser({}, optionsWithDepth(max_depth)) {}

  static constexpr std::size_t kArenaBytes = 16 * 1024;
  alignas(16) unsigned char arena[kArenaBytes];
  boost::json::monotonic_resource resource;
  boost::json::parser parser;
  std::optional<boost::json::value> value;  // move-constructed, so it keeps the arena storage
};

JsonScratch::JsonScratch(std::size_t max_depth) : max_depth_(max_depth) {}

JsonScratch::~JsonScratch() = default;

const boost::json::value* JsonScratch::parse(std::string_view text) noexcept {
  try {
    if (!state_) state_ = std::make_unique<State>(max_depth_);
    State& s = *state_;
    // Destroy the previous document before recycling the arena it lives in.
    s.value.reset();
    s.resource.release();
    s.parser.reset(boost::json::storage_ptr(&s.resource));
    boost::system::error_code ec;
    s.parser.write(text.data(), text.size(), ec);
    if (ec) {
      s.parser.reset();
      return nullptr;
    }
    s.value.emplace(s.parser.release());
    return &*s.value;
  } catch (...) {  // allocation failure: report "unparseable" rather than crash the relay
    if (state_) {
      state_->value.reset();
      state_->parser.reset();
    }
    return nullptr;
  }
}

}  // namespace spendgate::core
