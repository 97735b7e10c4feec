// Internal to model/: a compact YAML document tree built from libyaml's events (YamlTree), the
// handles that read it (YamlNode), and libyaml's event stream itself (YamlEvents). One tree per
// document: its nodes in one vector, its scalars in one string. An alias is the node it refers
// to (no copy), so what aliases may multiply is bounded while the tree is built (yaml_limits.h).
#pragma once

#include <yaml.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ovl {

// A position in a YAML text, 0-based (line -1: none, as for a node made by ovl).
struct YamlMark {
  int line = -1;
  int column = -1;
  bool isNull() const { return line < 0; }
};

enum class YamlKind : uint8_t { kNull, kScalar, kSequence, kMap, kAlias };

class YamlTree;
struct YamlPair;

// One node of a tree, or none (a missing map key: isDefined() false). Cheap to copy; valid while
// its tree lives.
class YamlNode {
 public:
  class Iterator;
  YamlNode() = default;
  YamlNode(const YamlTree* tree, uint32_t index);  // an alias stands for its anchored node

  bool isDefined() const { return tree_ != nullptr; }
  explicit operator bool() const { return isDefined(); }
  // A plain "~", "null", "Null", "NULL" or nothing is null; quoted or tagged, it is a string.
  bool isNull() const;
  bool isScalar() const;
  bool isSequence() const;
  bool isMap() const;
  YamlKind kind() const;
  std::string_view scalar() const;  // "" unless a scalar
  YamlMark mark() const;
  // A sequence's items or a map's pairs.
  size_t size() const;
  // The value of the first `key` of a map; none when absent or not a map.
  YamlNode operator[](std::string_view key) const;
  // A sequence's items (nothing for other kinds).
  Iterator begin() const;
  Iterator end() const;
  // A sequence's items, to be read by index.
  std::vector<YamlNode> items() const;
  // A map's key/value pairs in the order written (duplicate keys included).
  std::vector<YamlPair> pairs() const;

  const YamlTree* tree() const { return tree_; }
  uint32_t index() const { return index_; }

 private:
  const YamlTree* tree_ = nullptr;
  uint32_t index_ = 0;
};

struct YamlPair {
  YamlNode first;   // the key
  YamlNode second;  // the value
};

// A document's nodes. The parsers read it through YamlNode; the few places that change a
// document (agent.yaml's environment overrides, a node record's status) use the setters.
class YamlTree {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;

  struct Item {
    uint32_t first = kNone;  // first child (a map's children alternate key, value)
    uint32_t last = kNone;
    uint32_t next = kNone;  // next sibling
    uint32_t count = 0;     // children
    uint32_t offset = 0;    // scalar: where its text is in text_; alias: the anchored node
    uint32_t length = 0;
    int32_t line = -1;
    int32_t column = -1;
    YamlKind kind = YamlKind::kNull;
  };

  YamlNode root() const { return YamlNode(this, root_); }
  const Item& item(uint32_t i) const { return items_[i]; }
  std::string_view text(const Item& it) const {
    return std::string_view(text_).substr(it.offset, it.length);
  }

  // Building (the reader's) and changing a document. New nodes have no position.
  uint32_t add(YamlKind kind, YamlMark mark, std::string_view scalar = {});
  void append(uint32_t parent, uint32_t child);
  void setRoot(uint32_t i) { root_ = i; }
  uint32_t rootIndex() const { return root_; }
  void setAliasTarget(uint32_t alias, uint32_t target) { items_[alias].offset = target; }
  void reserve(size_t nodes, size_t textBytes);
  // Sets the value of the first `key` of `map` (a key and value appended when there is none).
  void set(uint32_t map, std::string_view key, uint32_t value);
  // Removes every `key` of `map` with its value.
  void remove(uint32_t map, std::string_view key);

 private:
  std::vector<Item> items_;
  std::string text_;
  uint32_t root_ = kNone;
};

class YamlNode::Iterator {
 public:
  Iterator(const YamlTree* tree, uint32_t at) : tree_(tree), at_(at) {}
  YamlNode operator*() const { return YamlNode(tree_, at_); }
  Iterator& operator++() {
    at_ = tree_->item(at_).next;
    return *this;
  }
  bool operator==(const Iterator& o) const { return at_ == o.at_; }

 private:
  const YamlTree* tree_;
  uint32_t at_;
};

// libyaml's parser over a text, one event at a time.
class YamlEvents {
 public:
  explicit YamlEvents(std::string_view text);
  ~YamlEvents();
  YamlEvents(const YamlEvents&) = delete;
  YamlEvents& operator=(const YamlEvents&) = delete;

  // The next event (valid until the next call), or nullptr at the end or on a syntax error.
  const yaml_event_t* next();
  bool failed() const { return parser_.error != YAML_NO_ERROR; }
  // The syntax error: where, and libyaml's words for it.
  YamlMark errorMark() const;
  std::string errorText() const;

 private:
  std::string_view text_;
  yaml_parser_t parser_;
  yaml_event_t event_;
  bool hasEvent_ = false;
  bool ended_ = false;
};

// The first problem of a text: a syntax error or a broken limit (yaml_limits.h), where, and in
// words (the message the reader reports).
struct YamlProblem {
  YamlMark mark;
  std::string message;
};

// The document of `text`, or its first problem. `maxDepth`: how deep nodes may nest (0:
// kMaxFileDepth); `budgetBytes`: the size the alias budget is computed from (0: the text's).
struct YamlBuild {
  std::shared_ptr<YamlTree> tree;
  std::optional<YamlProblem> problem;
};
YamlBuild buildYamlTree(std::string_view text, size_t maxDepth, size_t budgetBytes = 0);

// The subtree at `node` as YAML text (block style; scalars quoted where they would not read back
// as the same string), as a stored document.
std::string emitYaml(const YamlNode& node);

}  // namespace ovl
