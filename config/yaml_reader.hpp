#pragma once

// Internal to config/: the proxy never includes this (it pulls in yaml-cpp).

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/duration.hpp"
#include "core/pricing/money.hpp"

namespace spendgate::config {

/** A YAML node with the dotted path and position used to report problems with it. */
struct YamlValue {
  YAML::Node node;
  YAML::Mark mark;   // the value's position, or its key's when the value is empty
  std::string path;  // "server.listen", "budgets[0]"; "" for the document root
};

/** The entries of one mapping, in document order. */
class YamlMap {
public:
  struct Entry {
    YamlValue key;  // the key node, with the entry's path
    YamlValue value;
  };

  explicit YamlMap(YamlValue self) : self_(std::move(self)) {}

  /** @return the value for `key`, or null when the key is absent. */
  const YamlValue* find(std::string_view key) const;
  const std::vector<Entry>& entries() const { return entries_; }
  /** @return the mapping itself (for "x is required" messages). */
  const YamlValue& self() const { return self_; }
  void add(Entry entry) { entries_.push_back(std::move(entry)); }

private:
  YamlValue self_;
  std::vector<Entry> entries_;
};

/**
 * Typed reads over yaml-cpp nodes that never throw: each problem is recorded as
 * "SOURCE:LINE:COL: path: message" and the read returns nullopt.
 */
class YamlReader {
public:
  explicit YamlReader(std::string source) : source_(std::move(source)) {}

  void error(const YAML::Mark& at, std::string message);
  /**
   * Records yaml-cpp's syntax error `what` at `at` in `text`, adding the likely cause where
   * yaml-cpp names only the symptom (a tab in the indentation reads as "illegal map value").
   */
  void syntaxError(const std::string& text, const YAML::Mark& at, const std::string& what);
  /** @return "SOURCE:LINE:COL: path", the prefix error() gives a problem with `at`. */
  std::string location(const YamlValue& at) const;
  /** Records `message` prefixed with the value's path. */
  void error(const YamlValue& at, std::string_view message);
  bool hasErrors() const { return !errors_.empty(); }
  /** @return the recorded errors, ordered by position. */
  std::vector<std::string> takeErrors();

  /**
   * Parses YAML text that must hold one document: records "only one YAML document is allowed" at
   * a second one, and a syntax error where yaml-cpp cannot read on.
   * @return the first document's root (null when the text has none).
   * @throws YAML::Exception on syntax errors, as YAML::Load.
   */
  YAML::Node loadSingleDocument(const std::string& text);

  /** @return the child value `key` of a mapping at `parent`. */
  static YamlValue child(const YamlValue& parent, const YAML::Node& key, const YAML::Node& value);

  /**
   * A mapping whose keys must all be in `known`; an empty value reads as an empty mapping.
   * Unknown and duplicate keys are reported and skipped.
   */
  std::optional<YamlMap> map(const YamlValue& value, std::initializer_list<std::string_view> known);
  /**
   * A mapping with any (string, unique) keys; an empty value reads as an empty mapping. YAML merge
   * keys (`<<: *anchor`, `<<: [*a, *b]`) add the keys the mapping does not write itself.
   */
  std::optional<YamlMap> freeMap(const YamlValue& value);
  /** A sequence; an empty value reads as an empty sequence. Items get paths "path[i]". */
  std::optional<std::vector<YamlValue>> list(const YamlValue& value);

  std::optional<std::string> string(const YamlValue& value);
  std::optional<bool> boolean(const YamlValue& value);
  std::optional<int64_t> integer(const YamlValue& value, int64_t min, int64_t max);
  /** A finite number that is not negative (money, prices, ratios). */
  std::optional<double> number(const YamlValue& value);
  std::optional<Millis> duration(const YamlValue& value);
  /**
   * A price in USD per 1M tokens, the one rule of the catalog file and pricing.models: a plain
   * decimal with at most 6 decimals (no sign, no exponent), so it is exact in picodollars.
   * @return picodollars per token
   */
  std::optional<core::Picodollars> usdPerMillion(const YamlValue& value);
  /** A list of strings. */
  std::optional<std::vector<std::string>> strings(const YamlValue& value);

  /** One of `values`, spelled as `name(value)`; the message lists the allowed spellings. */
  template <class E, class NameFn>
  std::optional<E> enumeration(const YamlValue& value,
                               std::initializer_list<E> values,
                               NameFn name) {
    const auto text = scalar(value);
    if (!text) return std::nullopt;
    std::string allowed;
    for (E candidate : values) {
      if (*text == name(candidate)) return candidate;
      if (!allowed.empty()) allowed += ", ";
      allowed += std::string(name(candidate));
    }
    error(value, "unknown value '" + *text + "'; expected one of: " + allowed);
    return std::nullopt;
  }

private:
  struct Error {
    int line;
    int column;
    std::string text;
  };

  static bool isMergeKey(const YAML::Node& key);
  /** Appends the mapping(s) a `<<` entry's `value` names to `into`, or reports it. */
  void mergeSources(const YamlValue& value, std::vector<YamlValue>& into);
  /** The scalar text of `value`, reporting empty values and non-scalars. */
  std::optional<std::string> scalar(const YamlValue& value, std::string_view expected = "a value");

  /** Merges nest this deep at most (a deeper chain is reported as a cycle would be). */
  static constexpr size_t kMaxMergeDepth = 32;
  /** Merged mappings read in one file at most (each merge of a merge counts). */
  static constexpr size_t kMaxMergesRead = 10000;

  std::string source_;
  std::vector<Error> errors_;
  std::vector<YAML::Node> merging_;  // the mappings whose `<<` entries are being read
  size_t merges_read_ = 0;
};

}  // namespace spendgate::config
