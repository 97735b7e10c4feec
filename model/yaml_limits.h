// Internal to model/: the limits a YAML text is held to before yaml-cpp builds its tree, so that
// reading a file costs in proportion to the file's size: one document per text, aliases that may
// not expand the text beyond a node budget, and (for etcd's documents) a nesting depth. Checked
// by an event scan (no tree); Reader::load applies it to everything ovl reads as YAML.
#pragma once

#include <yaml-cpp/mark.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace ovl {

// The depth of a stored document (a cluster file is 6 levels deep). Files are left to
// yaml-cpp's own guard (about 2,000 levels), which protects the stack: a file's depth costs
// no more than its size, and checking it would take a second pass over every file.
constexpr size_t kMaxDocumentDepth = 64;
// The alias budget: with every alias replaced by the node it stands for (scalar, list or map,
// counted with everything inside it), a text may hold at most one node per byte of the text,
// and at least kMinYamlNodeBudget in any text. A text without aliases stays well within it (a
// node takes more than a byte to write), so the budget only limits what aliases multiply.
constexpr size_t kMinYamlNodeBudget = 16384;

// The node budget of a text of `bytes` bytes.
constexpr size_t yamlNodeBudget(size_t bytes) {
  return bytes > kMinYamlNodeBudget ? bytes : kMinYamlNodeBudget;
}

// Where a text breaks a limit, and how, in words that name the limit.
struct YamlLimitBreach {
  YAML::Mark mark;
  std::string message;
};

// Whether `text` may break the document or alias rules: it has a '*' (an alias) or a line that
// starts with "---" or "..." after its first. A byte search, so that the event scan (about half
// the cost of building the tree) runs only on texts that need it.
bool mayBreakYamlLimits(std::string_view text);

// The first limit `text` breaks, or nullopt; `maxDepth` 0: no depth limit of its own. Syntax
// errors are left to the parser that reads the text next (it reports them at the same position).
std::optional<YamlLimitBreach> checkYamlLimits(const std::string& text, size_t maxDepth);

}  // namespace ovl
