#include "core/metering/include_usage_injector.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/value.hpp>
#include <cstddef>
#include <vector>

#include "core/metering/request_body_json.hpp"

namespace spendgate::core {

namespace {

// One member of a JSON object as byte offsets into the text.
struct MemberSpan {
  std::string_view key;  // raw key text between the quotes
  std::size_t value_begin;
  std::size_t value_end;
};

// A minimal scanner over text already validated by Boost.JSON: it only finds spans.
class SpanScanner {
public:
  explicit SpanScanner(std::string_view text) : text_(text) {}

  std::size_t skipSpace(std::size_t pos) const {
    while (pos < text_.size() &&
           (text_[pos] == ' ' || text_[pos] == '\t' || text_[pos] == '\n' || text_[pos] == '\r')) {
      ++pos;
    }
    return pos;
  }

  // pos at the opening quote; returns one past the closing quote.
  std::size_t skipString(std::size_t pos) const {
    for (++pos; pos < text_.size(); ++pos) {
      if (text_[pos] == '\\') {
        ++pos;
      } else if (text_[pos] == '"') {
        return pos + 1;
      }
    }
    return text_.size();
  }

  std::size_t skipValue(std::size_t pos) const {
    if (pos >= text_.size()) return pos;
    const char c = text_[pos];
    if (c == '"') return skipString(pos);
    if (c == '{' || c == '[') {
      int depth = 0;
      while (pos < text_.size()) {
        const char d = text_[pos];
        if (d == '"') {
          pos = skipString(pos);
          continue;
        }
        if (d == '{' || d == '[') ++depth;
        if (d == '}' || d == ']') {
          if (--depth == 0) return pos + 1;
        }
        ++pos;
      }
      return pos;
    }
    while (pos < text_.size() && text_[pos] != ',' && text_[pos] != '}' && text_[pos] != ']' &&
           text_[pos] != ' ' && text_[pos] != '\t' && text_[pos] != '\n' && text_[pos] != '\r') {
      ++pos;
    }
    return pos;
  }

  // Members of the object whose '{' is at `open`; sets `close` to the position of its '}'.
  std::vector<MemberSpan> members(std::size_t open, std::size_t& close) const {
    std::vector<MemberSpan> out;
    std::size_t pos = skipSpace(open + 1);
    while (pos < text_.size() && text_[pos] == '"') {
      const std::size_t key_end = skipString(pos);
      MemberSpan member{text_.substr(pos + 1, key_end - pos - 2), 0, 0};
      pos = skipSpace(skipSpace(key_end) + 1);  // past ':'
      member.value_begin = pos;
      member.value_end = skipValue(pos);
      out.push_back(member);
      pos = skipSpace(member.value_end);
      if (pos < text_.size() && text_[pos] == ',') pos = skipSpace(pos + 1);
    }
    close = pos;
    return out;
  }

private:
  std::string_view text_;
};

// The raw key text may use escapes ("stream\u005foptions"); compare decoded.
bool keyIs(std::string_view raw, std::string_view wanted) {
  if (raw.find('\\') == std::string_view::npos) return raw == wanted;
  boost::system::error_code ec;
  const std::string quoted = "\"" + std::string(raw) + "\"";
  const auto decoded = boost::json::parse(quoted, ec);
  return !ec && decoded.is_string() && decoded.get_string() == wanted;
}

// Duplicate keys: the last one wins, as in Boost.JSON and most servers.
const MemberSpan* lastMember(const std::vector<MemberSpan>& members, std::string_view key) {
  const MemberSpan* found = nullptr;
  for (const auto& m : members) {
    if (keyIs(m.key, key)) found = &m;
  }
  return found;
}

}  // namespace

std::optional<std::string> injectIncludeUsage(std::string_view request_body) {
  // Read as the classifier reads it. A BOM stays in front: the upstream then gets the body as the
  // client sent it but for the added member, and accepts or refuses it as it would without us.
  const std::string_view body = withoutUtf8Bom(request_body);
  const std::string_view bom = request_body.substr(0, request_body.size() - body.size());
  try {
    boost::json::parse_options options;
    options.max_depth = kRequestBodyMaxDepth;
    boost::system::error_code ec;
    const boost::json::value doc = boost::json::parse(body, ec, {}, options);
    const auto* root = ec ? nullptr : doc.if_object();
    if (root == nullptr) return std::nullopt;
    const auto* stream = root->if_contains("stream");
    if (stream == nullptr || !stream->is_bool() || !stream->get_bool()) return std::nullopt;
    const auto* options_value = root->if_contains("stream_options");
    if (options_value != nullptr && !options_value->is_null() && !options_value->is_object()) {
      return std::nullopt;
    }
    if (options_value != nullptr && options_value->is_object()) {
      const auto* include = options_value->get_object().if_contains("include_usage");
      if (include != nullptr && include->is_bool() && include->get_bool()) return std::nullopt;
    }

    const SpanScanner scanner(body);
    const std::size_t open = scanner.skipSpace(0);
    std::size_t close = 0;
    const auto top = scanner.members(open, close);
    const MemberSpan* so = lastMember(top, "stream_options");
    std::string out;
    out.reserve(request_body.size() + 48);
    out.append(bom);
    if (so == nullptr) {
      // Append as the last member: `stream` exists, so the object is not empty.
      out.append(body.substr(0, close));
      out.append(",\"stream_options\":{\"include_usage\":true}");
      out.append(body.substr(close));
      return out;
    }
    if (body[so->value_begin] != '{') {  // null
      out.append(body.substr(0, so->value_begin));
      out.append("{\"include_usage\":true}");
      out.append(body.substr(so->value_end));
      return out;
    }
    std::size_t inner_close = 0;
    const auto inner = scanner.members(so->value_begin, inner_close);
    if (const MemberSpan* include = lastMember(inner, "include_usage")) {
      // false, null or another non-true value: replace just that value.
      out.append(body.substr(0, include->value_begin));
      out.append("true");
      out.append(body.substr(include->value_end));
      return out;
    }
    out.append(body.substr(0, so->value_begin + 1));
    out.append(inner.empty() ? "\"include_usage\":true" : "\"include_usage\":true,");
    out.append(body.substr(so->value_begin + 1));
    return out;
  } catch (...) {  // allocation failure: leave the request as it was
    return std::nullopt;
  }
}

}  // namespace spendgate::core
