// Internal to model/: reading YAML into ovl's types with positions. Reader turns YAML values
// into addresses, prefixes, names, integers and keywords, and records every problem as a
// ConfigIssue at the value's file:line:column; readFile reads a whole configuration file.
// Included only by model/'s own sources (yaml-cpp is a private dependency of the library).
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/ip.h"
#include "common/result.h"
#include "model/config_issue.h"

namespace ovl {

using FieldNames = std::span<const std::string_view>;

// "a, b, c"
std::string joinNames(FieldNames names);
bool contains(FieldNames names, std::string_view name);

// How a YAML value reads in a message: the scalar itself, quoted, or its kind.
std::string describe(const YAML::Node& n);

// "prefix.key", or "key" when there is no prefix.
std::string joinPath(const std::string& prefix, std::string_view key);

// A map's entries by key, as read by Reader::fields().
struct Entry {
  YAML::Node key;
  YAML::Node value;
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
  // Texts loaded from now on are nested at most this deep (0: only yaml-cpp's own guard).
  void setMaxDepth(size_t depth) { maxDepth_ = depth; }

  SourceMark markOf(const YAML::Node& n) const {
    SourceMark mark{file_};
    if (!n.IsDefined()) {
      return mark;
    }
    return markOf(n.Mark());
  }
  SourceMark markOf(const YAML::Mark& m) const {
    SourceMark mark{file_};
    if (!m.is_null() && m.line >= 0 && m.column >= 0) {
      mark.line = m.line + 1 + static_cast<int>(lineOffset_);  // yaml-cpp counts from 0
      mark.column = m.column + 1;
    }
    return mark;
  }

  void issue(const YAML::Node& at, std::string field, std::string message) {
    issues_.push_back(ConfigIssue{markOf(at), std::move(field), std::move(message)});
  }
  void issue(SourceMark mark, std::string field, std::string message) {
    issues_.push_back(ConfigIssue{std::move(mark), std::move(field), std::move(message)});
  }

  // Parses YAML text; a syntax error becomes an issue at its position and nullopt.
  std::optional<YAML::Node> load(const std::string& text);

  // The entries of `map`, reporting keys that are not in `known` (typos) and keys given twice
  // (yaml-cpp keeps both; a silent choice between them would hide a mistake).
  Fields fields(const YAML::Node& map, const std::string& path, FieldNames known);

  // An optional field: its value, or nullptr when absent or empty (`key:` alone means unset).
  static const YAML::Node* find(const Fields& entries, std::string_view key) {
    auto it = entries.find(key);
    if (it == entries.end() || it->second.value.IsNull()) {
      return nullptr;
    }
    return &it->second.value;
  }

  // A required field: its value, or nullptr after an issue saying it is missing.
  const YAML::Node* require(const Fields& entries, const YAML::Node& map, const std::string& path,
                            std::string_view key, std::string_view expected);

  std::optional<std::string> text(const YAML::Node& v, const std::string& field,
                                  std::string_view expected);

  // A strict decimal integer in [min, max]: "12abc", "-1", "1.5", "0x10" and non-scalars are
  // rejected with the value and the range.
  std::optional<int64_t> integer(const YAML::Node& v, const std::string& field, int64_t min,
                                 int64_t max);

  std::optional<Ipv4> ipv4(const YAML::Node& v, const std::string& field);

  // An IPv4 prefix that must be given by its network address ("10.244.1.0/24", not
  // "10.244.1.5/24": the host bits would be silently dropped otherwise).
  std::optional<Ipv4Prefix> networkPrefix(const YAML::Node& v, const std::string& field,
                                          std::string_view example);

  std::optional<MacAddr> unicastMac(const YAML::Node& v, const std::string& field);

  std::optional<std::string> nodeName(const YAML::Node& v, const std::string& field);

  // One of `options` (matched exactly, or in any case when `anyCase`): its index.
  std::optional<size_t> keyword(const YAML::Node& v, const std::string& field, FieldNames options,
                                std::string_view what, bool anyCase = false);

  std::optional<bool> boolean(const YAML::Node& v, const std::string& field);

  // A DNS label (namespace, service name, port name) of at most `max` characters.
  std::optional<std::string> label(const YAML::Node& v, const std::string& field,
                                   std::string_view what, size_t max);

  std::optional<std::string> interfaceName(const YAML::Node& v, const std::string& field);

 private:
  std::string file_;
  std::vector<ConfigIssue>& issues_;
  size_t lineOffset_ = 0;
  size_t maxDepth_ = 0;
};

}  // namespace ovl
