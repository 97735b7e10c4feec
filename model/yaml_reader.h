// Internal to model/: reading YAML into ovl's types with positions. Reader turns YAML values
// into addresses, prefixes, names, integers and keywords, and records every problem as a
// ConfigIssue at the value's file:line:column; readFile reads a whole configuration file.
// Included only by model/'s own sources (libyaml is a private dependency of the library).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/ip.h"
#include "common/result.h"
#include "model/config_issue.h"
#include "model/yaml_tree.h"

namespace ovl {

using FieldNames = std::span<const std::string_view>;

// "a, b, c"
std::string joinNames(FieldNames names);
bool contains(FieldNames names, std::string_view name);

// How a YAML value reads in a message: the scalar itself, quoted, or its kind.
std::string describe(const YamlNode& n);

// "prefix.key", or "key" when there is no prefix.
std::string joinPath(const std::string& prefix, std::string_view key);

// A map's entries by key, as read by Reader::fields().
struct Entry {
  YamlNode key;
  YamlNode value;
};
using Fields = std::map<std::string, Entry, std::less<>>;

// Reads YAML values into ovl types, recording every problem as a ConfigIssue in `issues`.
class Reader {
 public:
  Reader(std::string file, std::vector<ConfigIssue>& issues)
      : file_(std::move(file)), issues_(issues) {}

  size_t issueCount() const { return issues_.size(); }
  // The issues recorded from index `from` on, taken out of the list.
  std::vector<ConfigIssue> takeIssuesSince(size_t from);
  // Where the next values come from (documents of one cluster stored apart, as in etcd).
  void setFile(std::string file) { file_ = std::move(file); }
  // YAML parsed from a part of the file that starts at this (0-based) line.
  void setLineOffset(size_t lines) { lineOffset_ = lines; }
  // Texts loaded from now on are nested at most this deep (0: kMaxFileDepth).
  void setMaxDepth(size_t depth) { maxDepth_ = depth; }

  SourceMark markOf(const YamlNode& n) const {
    SourceMark mark{file_};
    if (!n.isDefined()) {
      return mark;
    }
    return markOf(n.mark());
  }
  SourceMark markOf(const YamlMark& m) const {
    SourceMark mark{file_};
    if (!m.isNull() && m.column >= 0) {
      mark.line = m.line + 1 + static_cast<int>(lineOffset_);  // libyaml counts from 0
      mark.column = m.column + 1;
    }
    return mark;
  }

  void issue(const YamlNode& at, std::string field, std::string message) {
    issues_.push_back(ConfigIssue{markOf(at), std::move(field), std::move(message)});
  }
  void issue(SourceMark mark, std::string field, std::string message) {
    issues_.push_back(ConfigIssue{std::move(mark), std::move(field), std::move(message)});
  }

  // Parses YAML text; a syntax error (or a broken limit, yaml_limits.h) becomes an issue at its
  // position and nullptr. The document's root is the tree's root(). `budgetBytes`: the size
  // the alias budget is computed from, when `text` is a part of a larger text (0: its own).
  std::shared_ptr<YamlTree> load(std::string_view text, size_t budgetBytes = 0);

  // The entries of `map`, reporting keys that are not in `known` (typos) and keys given twice
  // (the tree keeps both; a silent choice between them would hide a mistake).
  Fields fields(const YamlNode& map, const std::string& path, FieldNames known);

  // An optional field: its value, or nullptr when absent or empty (`key:` alone means unset).
  static const YamlNode* find(const Fields& entries, std::string_view key) {
    auto it = entries.find(key);
    if (it == entries.end() || it->second.value.isNull()) {
      return nullptr;
    }
    return &it->second.value;
  }

  // A required field: its value, or nullptr after an issue saying it is missing.
  const YamlNode* require(const Fields& entries, const YamlNode& map, const std::string& path,
                          std::string_view key, std::string_view expected);

  std::optional<std::string> text(const YamlNode& v, const std::string& field,
                                  std::string_view expected);

  // A strict decimal integer in [min, max]: "12abc", "-1", "1.5", "0x10" and non-scalars are
  // rejected with the value and the range.
  std::optional<int64_t> integer(const YamlNode& v, const std::string& field, int64_t min,
                                 int64_t max);

  std::optional<Ipv4> ipv4(const YamlNode& v, const std::string& field);

  // An IPv4 prefix that must be given by its network address ("10.244.1.0/24", not
  // "10.244.1.5/24": the host bits would be silently dropped otherwise).
  std::optional<Ipv4Prefix> networkPrefix(const YamlNode& v, const std::string& field,
                                          std::string_view example);

  std::optional<MacAddr> unicastMac(const YamlNode& v, const std::string& field);

  std::optional<std::string> nodeName(const YamlNode& v, const std::string& field);

  // One of `options` (matched exactly, or in any case when `anyCase`): its index.
  std::optional<size_t> keyword(const YamlNode& v, const std::string& field, FieldNames options,
                                std::string_view what, bool anyCase = false);

  std::optional<bool> boolean(const YamlNode& v, const std::string& field);

  // A DNS label (namespace, service name, port name) of at most `max` characters.
  std::optional<std::string> label(const YamlNode& v, const std::string& field,
                                   std::string_view what, size_t max);

  std::optional<std::string> interfaceName(const YamlNode& v, const std::string& field);

 private:
  std::string file_;
  std::vector<ConfigIssue>& issues_;
  size_t lineOffset_ = 0;
  size_t maxDepth_ = 0;
};

}  // namespace ovl
