// Internal to model/: the limits a YAML text is held to while its tree is built, so that reading
// a file costs in proportion to the file's size: one document per text, aliases that may not
// expand the text beyond a node budget, and a nesting depth. YamlLimits counts them event by
// event as buildYamlTree (yaml_tree.h) reads the text; Reader::load applies them to everything
// ovl reads as YAML.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/yaml_tree.h"

namespace ovl {

// The depth of a stored document (a cluster file is 6 levels deep).
constexpr size_t kMaxDocumentDepth = 64;
// The depth of a file, far above any configuration. Nothing that reads the tree recurses, but
// libyaml's scanner spends time in proportion to the flow depth ([ and {) on every token, so
// the depth also bounds what a 64 MiB file of nested brackets can cost.
constexpr size_t kMaxFileDepth = 100;
// The alias budget: with every alias replaced by the node it stands for (scalar, list or map,
// counted with everything inside it), a text may hold at most one node per byte of the text,
// and at least kMinYamlNodeBudget in any text. A text without aliases stays well within it (a
// node takes more than a byte to write), so the budget only limits what aliases multiply.
constexpr size_t kMinYamlNodeBudget = 16384;

// The node budget of a text of `bytes` bytes.
constexpr size_t yamlNodeBudget(size_t bytes) {
  return bytes > kMinYamlNodeBudget ? bytes : kMinYamlNodeBudget;
}

// Counts each node's expanded size as the events arrive: an anchored node's size is known when
// it closes; an alias adds that size. Each call returns the breach it finds (the caller stops
// there, so a breach costs no more than the text up to it).
class YamlLimits {
 public:
  YamlLimits(size_t bytes, size_t maxDepth)
      : budget_(yamlNodeBudget(bytes)), bytes_(bytes), maxDepth_(maxDepth) {}

  std::optional<YamlProblem> document(YamlMark at);
  // A scalar (or null); `anchor` empty when it has none.
  void leaf(std::string_view anchor, uint32_t node);
  std::optional<YamlProblem> open(YamlMark at, std::string_view anchor, uint32_t node);
  void close();
  // The node the alias `anchor` stands for, or the breach.
  std::optional<YamlProblem> alias(YamlMark at, std::string_view anchor, uint32_t& node);

 private:
  static constexpr size_t kOpen = static_cast<size_t>(-1);

  struct Anchored {
    uint32_t node = 0;
    size_t size = kOpen;  // kOpen while the anchored node is being read
  };
  struct Open {
    std::string anchor;
    size_t size;
  };

  // Sums stop just above the budget: past it, only that it is exceeded matters.
  size_t saturated(size_t a, size_t b) const { return std::min(a + b, budget_ + 1); }
  void add(size_t n);

  size_t budget_;
  size_t bytes_;
  size_t maxDepth_;
  size_t total_ = 0;
  int documents_ = 0;
  std::vector<Open> stack_;
  std::map<std::string, Anchored, std::less<>> anchors_;  // a later anchor of a name replaces it
};

}  // namespace ovl
