// injectIncludeUsage (core/metering/include_usage_injector.hpp): the client's request body.
// Input: the body.
// Invariants, when it rewrites: the result is a JSON object equal to the original except that
// stream_options.include_usage is true (every other member, nested ones included, unchanged),
// the classifier now sees include_usage, and a second injection has nothing left to do.

#include <boost/json/parse.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/value.hpp>
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
  FUZZ_CHECK(after == before);

  const RequestInfo info =
      classifyRequest(ProviderFormat::OpenAI, "/v1/chat/completions", "", *out);
  FUZZ_CHECK(info.include_usage_requested);
  FUZZ_CHECK(!info.needs_usage_injection);
  FUZZ_CHECK(!injectIncludeUsage(*out).has_value());
  return 0;
}
