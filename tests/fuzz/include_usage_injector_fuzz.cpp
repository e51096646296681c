// injectIncludeUsage (core/metering/include_usage_injector.hpp): the client's request body.
// Input: the body.
// Invariants, when it rewrites: the result is a JSON object equal to the original except that
// stream_options.include_usage is true (every other member, nested ones included, unchanged),
// the classifier now sees include_usage, and a second injection has nothing left to do.

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/value.hpp>
#include <cmath>
#include <limits>
#include <string_view>

#include "core/metering/include_usage_injector.hpp"
#include "core/metering/request_classifier.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace {

boost::json::value parseBody(std::string_view text) {
  boost::json::parse_options options;
  options.max_depth = 256;
  boost::system::error_code ec;
  boost::json::value doc = boost::json::parse(text, ec, {}, options);
  if (ec) return nullptr;
  return doc;
}

/**
 * Equal JSON, doubles within a few ULP: Boost.JSON 1.81 reads the same digits into neighbouring
 * doubles depending on what follows them in the buffer (its fast parsing is not exact), so the
 * untouched number before an appended member may differ in its last bit. It also reads "0e999"
 * as NaN, which equals nothing.
 */
bool sameJson(const boost::json::value& a, const boost::json::value& b) {
  if (a.is_double() && b.is_double()) {
    const double x = a.get_double();
    const double y = b.get_double();
    if (std::isnan(x) || std::isnan(y)) return std::isnan(x) && std::isnan(y);  // "0e999"
    return x == y || std::fabs(x - y) <= 4 * std::numeric_limits<double>::epsilon() *
                                             std::max(std::fabs(x), std::fabs(y));
  }
  if (a.kind() != b.kind()) return false;
  if (a.is_array()) {
    const auto& x = a.get_array();
    const auto& y = b.get_array();
    if (x.size() != y.size()) return false;
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (!sameJson(x[i], y[i])) return false;
    }
    return true;
  }
  if (a.is_object()) {
    const auto& x = a.get_object();
    const auto& y = b.get_object();
    if (x.size() != y.size()) return false;
    for (const auto& member : x) {
      const auto* other = y.if_contains(member.key());
      if (other == nullptr || !sameJson(member.value(), *other)) return false;
    }
    return true;
  }
  return a == b;
}

}  // namespace

SPENDGATE_FUZZ_TARGET(include_usage_injector) {
  using namespace spendgate::core;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const auto out = injectIncludeUsage(body);
  if (!out) return 0;

  boost::json::value before = parseBody(body);
  const boost::json::value after = parseBody(*out);
  FUZZ_CHECK(before.is_object());
  FUZZ_CHECK(after.is_object());
  // What the client sent, with include_usage set the way the injection sets it.
  auto& expected = before.as_object();
  auto* options = expected.if_contains("stream_options");
  if (options == nullptr || options->is_null()) {
    expected["stream_options"] = boost::json::object{{"include_usage", true}};
  } else {
    FUZZ_CHECK(options->is_object());
    options->as_object()["include_usage"] = true;
  }
  FUZZ_CHECK(sameJson(after, before));

  const RequestInfo info =
      classifyRequest(ProviderFormat::OpenAI, "/v1/chat/completions", "", *out);
  FUZZ_CHECK(info.include_usage_requested);
  FUZZ_CHECK(!info.needs_usage_injection);
  FUZZ_CHECK(!injectIncludeUsage(*out).has_value());
  return 0;
}
