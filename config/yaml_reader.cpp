#include "config/yaml_reader.hpp"

#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <sstream>

#include "core/text/utf8.hpp"

namespace spendgate::config {

namespace {

size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

/** @return the known key closest to a misspelt one, or "" when nothing is close. */
std::string_view suggest(std::string_view key, std::initializer_list<std::string_view> known) {
  std::string_view best;
  size_t best_distance = std::max<size_t>(2, key.size() / 3) + 1;
  for (std::string_view candidate : known) {
    const size_t distance = editDistance(key, candidate);
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

std::string where(const YamlValue& map) {
  return map.path.empty() ? std::string("at top level") : "in " + map.path;
}

std::string describe(const YAML::Node& node) {
  if (node.IsMap()) return "a mapping";
  if (node.IsSequence()) return "a list";
  return "'" + node.Scalar() + "'";
}

}  // namespace

const YamlValue* YamlMap::find(std::string_view key) const {
  for (const Entry& entry : entries_) {
    if (entry.key.node.Scalar() == key) return &entry.value;
  }
  return nullptr;
}

namespace {

// yaml-cpp positions are 0-based; a null mark (-1) has no position.
int lineOf(const YAML::Mark& at) { return at.is_null() ? 1 : at.line + 1; }
int columnOf(const YAML::Mark& at) { return at.is_null() ? 1 : at.column + 1; }

}  // namespace

namespace {

// A message may quote a value from the file: it stays one line of valid UTF-8, and a 50 MB scalar
// is not copied into it whole.
std::string printableMessage(std::string message) {
  constexpr std::size_t kMaxBytes = 512;
  if (message.size() > kMaxBytes) {
    const std::size_t more = message.size() - kMaxBytes;
    message.resize(kMaxBytes);
    message += "... (" + std::to_string(more) + " bytes more)";
  }
  std::string out = core::validUtf8(message);
  for (char& c : out) {
    if ((c >= 0 && c < 0x20) || c == 0x7f) c = '?';
  }
  return out;
}

}  // namespace

void YamlReader::error(const YAML::Mark& at, std::string message) {
  const int line = lineOf(at);
  const int column = columnOf(at);
  errors_.push_back({line, column,
                     source_ + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " +
                         printableMessage(std::move(message))});
}

void YamlReader::syntaxError(const std::string& text,
                             const YAML::Mark& at,
                             const std::string& what) {
  std::string message = "YAML syntax error: " + what;
  // The first line up to the error whose indentation holds a tab: YAML indents with spaces only.
  std::size_t start = 0;
  for (int line = 0; start < text.size() && (at.line < 0 || line <= at.line); ++line) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    const std::size_t content = text.find_first_not_of(" \t", start);
    const std::size_t tab = text.find('\t', start);
    if (tab < end && tab < content) {
      message += " (line " + std::to_string(line + 1) +
                 " is indented with a tab; YAML indents with spaces only)";
      break;
    }
    start = end + 1;
  }
  error(at, std::move(message));
}

std::string YamlReader::location(const YamlValue& at) const {
  std::string text =
      source_ + ":" + std::to_string(lineOf(at.mark)) + ":" + std::to_string(columnOf(at.mark));
  if (!at.path.empty()) text += ": " + at.path;
  return text;
}

void YamlReader::error(const YamlValue& at, std::string_view message) {
  error(at.mark, at.path.empty() ? std::string(message) : at.path + ": " + std::string(message));
}

std::vector<std::string> YamlReader::takeErrors() {
  std::stable_sort(errors_.begin(), errors_.end(), [](const Error& a, const Error& b) {
    return a.line != b.line ? a.line < b.line : a.column < b.column;
  });
  std::vector<std::string> texts;
  texts.reserve(errors_.size());
  for (Error& e : errors_) texts.push_back(std::move(e.text));
  errors_.clear();
  return texts;
}

YamlValue YamlReader::child(const YamlValue& parent,
                            const YAML::Node& key,
                            const YAML::Node& value) {
  const std::string name = key.Scalar();
  return {value, value.IsNull() ? key.Mark() : value.Mark(),
          parent.path.empty() ? name : parent.path + "." + name};
}

std::optional<YamlMap> YamlReader::freeMap(const YamlValue& value) {
  YamlMap result(value);
  if (value.node.IsNull()) return result;
  if (!value.node.IsMap()) {
    error(value, "expected a mapping, got " + describe(value.node));
    return std::nullopt;
  }
  std::map<std::string, int> first_line;
  std::vector<YamlValue> merged;  // the mappings of `<<: *anchor` entries, in order
  for (auto it = value.node.begin(); it != value.node.end(); ++it) {
    // Copies: `it->` points into a temporary proxy that dies at the end of the expression.
    const YAML::Node key = it->first;
    const YAML::Node item = it->second;
    if (!key.IsScalar()) {
      error(key.Mark(), "keys must be plain names " + where(value));
      continue;
    }
    if (isMergeKey(key)) {
      // A key at most once per mapping, `<<` too (YAML 1.1 merges several as `<<: [*a, *b]`).
      if (const auto [seen, first] = first_line.emplace("<<", key.Mark().line + 1); !first) {
        error(key.Mark(), "duplicate key '<<' " + where(value) + " (first at line " +
                              std::to_string(seen->second) + "; merge several as <<: [*a, *b])");
        continue;
      }
      mergeSources({item, item.IsNull() ? key.Mark() : item.Mark(), value.path}, merged);
      continue;
    }
    const auto [seen, inserted] = first_line.emplace(key.Scalar(), key.Mark().line + 1);
    if (!inserted) {
      error(key.Mark(), "duplicate key '" + key.Scalar() + "' " + where(value) +
                            " (first at line " + std::to_string(seen->second) + ")");
      continue;
    }
    YamlValue entry_value = child(value, key, item);
    YamlValue key_value{key, key.Mark(), entry_value.path};
    result.add({std::move(key_value), std::move(entry_value)});
  }
  // YAML 1.1 merge keys: a key written in the mapping wins over a merged one, and an earlier
  // merged mapping over a later one. Merged values keep their own positions for messages.
  if (merged.empty()) return result;
  merging_.push_back(value.node);
  for (const YamlValue& source : merged) {
    // An alias can name the mapping it sits in (`&a { <<: *a }`): yaml-cpp builds a cycle.
    const bool cycle = std::any_of(merging_.begin(), merging_.end(),
                                   [&](const YAML::Node& open) { return open.is(source.node); });
    if (cycle || merging_.size() > kMaxMergeDepth) {
      error(source.mark, "merge key '<<' " + where(value) + " merges a mapping that merges it");
      continue;
    }
    // Each merge reads its mapping again, with that mapping's own merges: a chain of aliases that
    // each merge the last one twice doubles the work per line (a "billion laughs").
    if (++merges_read_ > kMaxMergesRead) {
      if (merges_read_ == kMaxMergesRead + 1) {
        error(source.mark, "merge keys expand to more than " + std::to_string(kMaxMergesRead) +
                               " merged mappings");
      }
      continue;
    }
    auto entries = freeMap(source);
    if (!entries) continue;
    for (const YamlMap::Entry& entry : entries->entries()) {
      if (first_line.emplace(entry.key.node.Scalar(), entry.key.mark.line + 1).second) {
        result.add(entry);
      }
    }
  }
  merging_.pop_back();
  return result;
}

bool YamlReader::isMergeKey(const YAML::Node& key) {
  // Only the plain `<<`: a quoted '<<' is an ordinary key (yaml-cpp tags plain scalars "?").
  return key.Scalar() == "<<" && key.Tag() == "?";
}

void YamlReader::mergeSources(const YamlValue& value, std::vector<YamlValue>& into) {
  if (value.node.IsMap()) {
    into.push_back(value);
    return;
  }
  if (value.node.IsSequence()) {
    bool all_maps = true;
    for (const YAML::Node& item : value.node) all_maps = all_maps && item.IsMap();
    if (all_maps) {
      for (const YAML::Node& item : value.node) into.push_back({item, item.Mark(), value.path});
      return;
    }
  }
  error(value.mark, "merge key '<<' " + where(value) +
                        " needs a mapping or a list of mappings (e.g. <<: *defaults)");
}

std::optional<YamlMap> YamlReader::map(const YamlValue& value,
                                       std::initializer_list<std::string_view> known) {
  auto all = freeMap(value);
  if (!all) return std::nullopt;
  YamlMap result(value);
  for (const YamlMap::Entry& entry : all->entries()) {
    const std::string& key = entry.key.node.Scalar();
    if (std::find(known.begin(), known.end(), key) != known.end()) {
      result.add(entry);
      continue;
    }
    std::string message = "unknown key '" + key + "' " + where(value);
    if (const std::string_view close = suggest(key, known); !close.empty()) {
      message += " (did you mean '" + std::string(close) + "'?)";
    }
    error(entry.key.mark, std::move(message));
  }
  return result;
}

std::optional<std::vector<YamlValue>> YamlReader::list(const YamlValue& value) {
  std::vector<YamlValue> items;
  if (value.node.IsNull()) return items;
  if (!value.node.IsSequence()) {
    error(value, "expected a list, got " + describe(value.node));
    return std::nullopt;
  }
  size_t index = 0;
  for (const YAML::Node& item : value.node) {
    items.push_back({item, item.IsNull() ? value.mark : item.Mark(),
                     value.path + "[" + std::to_string(index++) + "]"});
  }
  return items;
}

std::optional<std::string> YamlReader::scalar(const YamlValue& value, std::string_view expected) {
  if (value.node.IsNull()) {
    error(value, "missing value");
    return std::nullopt;
  }
  if (!value.node.IsScalar()) {
    error(value, "expected " + std::string(expected) + ", got " + describe(value.node));
    return std::nullopt;
  }
  return value.node.Scalar();
}

std::optional<std::string> YamlReader::string(const YamlValue& value) {
  // A bare `key: ""` is a scalar, so an explicit empty string is allowed here.
  return scalar(value, "a string");
}

std::optional<bool> YamlReader::boolean(const YamlValue& value) {
  const auto text = scalar(value, "true or false");
  if (!text) return std::nullopt;
  bool result = false;
  if (!YAML::convert<bool>::decode(value.node, result)) {
    error(value, "expected true or false, got '" + *text + "'");
    return std::nullopt;
  }
  return result;
}

std::optional<int64_t> YamlReader::integer(const YamlValue& value, int64_t min, int64_t max) {
  const auto text = scalar(value, "a whole number");
  if (!text) return std::nullopt;
  int64_t result = 0;
  const char* end = text->data() + text->size();
  const auto parsed = std::from_chars(text->data(), end, result);
  if (parsed.ec == std::errc::result_out_of_range) {
    error(value, "'" + *text + "' is too large");
    return std::nullopt;
  }
  if (text->empty() || parsed.ec != std::errc() || parsed.ptr != end) {
    error(value, "expected a whole number, got '" + *text + "'");
    return std::nullopt;
  }
  if (result < min || result > max) {
    std::string range = max == INT64_MAX
                            ? "at least " + std::to_string(min)
                            : "between " + std::to_string(min) + " and " + std::to_string(max);
    error(value, "must be " + range + ", got " + *text);
    return std::nullopt;
  }
  return result;
}

std::optional<double> YamlReader::number(const YamlValue& value) {
  const auto text = scalar(value, "a number");
  if (!text) return std::nullopt;
  double result = 0;
  const char* end = text->data() + text->size();
  const auto parsed = std::from_chars(text->data(), end, result);
  if (text->empty() || parsed.ec != std::errc() || parsed.ptr != end || !std::isfinite(result)) {
    error(value, "expected a number, got '" + *text + "'");
    return std::nullopt;
  }
  if (result < 0) {
    error(value, "must not be negative, got " + *text);
    return std::nullopt;
  }
  return result;
}

std::optional<core::Picodollars> YamlReader::usdPerMillion(const YamlValue& value) {
  static constexpr std::string_view kPriceHint =
      "a price in USD per 1M tokens: a plain decimal with at most 6 decimals, e.g. 2.50";
  if (!value.node.IsScalar() || value.node.Scalar().empty()) {
    error(value, "expected " + std::string(kPriceHint));
    return std::nullopt;
  }
  const auto parsed = core::parseUsdPerMillion(value.node.Scalar());
  if (!parsed) error(value, "'" + value.node.Scalar() + "' is not " + std::string(kPriceHint));
  return parsed;
}

std::optional<Millis> YamlReader::duration(const YamlValue& value) {
  const auto text = scalar(value, "a duration");
  if (!text) return std::nullopt;
  auto result = parseDuration(*text);
  if (!result) {
    error(value, "invalid duration '" + *text +
                     "'; use a whole number and a unit: 250ms, 30s, 5m, 1h, 7d (at most 36500d)");
  }
  return result;
}

std::optional<std::vector<std::string>> YamlReader::strings(const YamlValue& value) {
  auto items = list(value);
  if (!items) return std::nullopt;
  std::vector<std::string> result;
  bool ok = true;
  for (const YamlValue& item : *items) {
    if (auto text = string(item)) {
      result.push_back(std::move(*text));
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return result;
}

namespace {

/** Where each document's root node is, without building the nodes. */
class DocumentRoots final : public YAML::EventHandler {
public:
  std::vector<YAML::Mark> roots;

  void OnDocumentStart(const YAML::Mark&) override { root_pending_ = true; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { node(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { node(mark); }
  void OnScalar(const YAML::Mark& mark,
                const std::string&,
                YAML::anchor_t,
                const std::string&) override {
    node(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark,
                       const std::string&,
                       YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    node(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark,
                  const std::string&,
                  YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    node(mark);
  }
  void OnMapEnd() override {}

private:
  void node(const YAML::Mark& mark) {
    if (root_pending_) roots.push_back(mark);
    root_pending_ = false;
  }
  bool root_pending_ = false;
};

}  // namespace

YAML::Node YamlReader::loadSingleDocument(const std::string& text) {
  // Not YAML::LoadAll: on some malformed input (",}", a flow indicator where a document starts)
  // yaml-cpp 0.7 returns empty documents forever without reading on, and LoadAll loops,
  // allocating, until memory runs out. Two documents are all it takes to know.
  std::istringstream stream(text);
  YAML::Parser parser(stream);
  DocumentRoots documents;
  for (int i = 0; i < 2 && parser.HandleNextDocument(documents); ++i) {
  }
  if (documents.roots.size() > 1) {
    const YAML::Mark& first = documents.roots[0];
    const YAML::Mark& second = documents.roots[1];
    if (second.pos == first.pos) {
      error(second, "YAML syntax error: unexpected character");
      return YAML::Node();
    }
    error(second, "only one YAML document is allowed");
  }
  return YAML::Load(text);
}

}  // namespace spendgate::config
