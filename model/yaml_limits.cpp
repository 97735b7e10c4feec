#include "model/yaml_limits.h"

#include <fmt/format.h>

#include <algorithm>

namespace ovl {

std::optional<YamlProblem> YamlLimits::document(YamlMark at) {
  if (++documents_ > 1) {
    return YamlProblem{at,
                       "a second YAML document starts here; expected one document per file "
                       "(remove the '---' or '...' line and what follows, or move it to a file "
                       "of its own)"};
  }
  return std::nullopt;
}

void YamlLimits::add(size_t n) {
  total_ = saturated(total_, n);
  if (!stack_.empty()) {
    stack_.back().size = saturated(stack_.back().size, n);
  }
}

void YamlLimits::leaf(std::string_view anchor, uint32_t node) {
  add(1);
  if (!anchor.empty()) {
    anchors_.insert_or_assign(std::string(anchor), Anchored{node, 1});
  }
}

std::optional<YamlProblem> YamlLimits::open(YamlMark at, std::string_view anchor, uint32_t node) {
  if (stack_.size() >= maxDepth_) {
    return YamlProblem{
        at, fmt::format("invalid YAML: nested too deeply (the limit is {} levels)", maxDepth_)};
  }
  add(1);
  if (!anchor.empty()) {
    anchors_.insert_or_assign(std::string(anchor), Anchored{node, kOpen});
  }
  stack_.push_back(Open{std::string(anchor), 1});
  return std::nullopt;
}

void YamlLimits::close() {
  Open done = std::move(stack_.back());
  stack_.pop_back();
  if (!done.anchor.empty()) {
    anchors_[done.anchor].size = done.size;
  }
  if (!stack_.empty()) {  // the container's own 1 is in the parent already
    stack_.back().size = saturated(stack_.back().size, done.size - 1);
  }
}

std::optional<YamlProblem> YamlLimits::alias(YamlMark at, std::string_view anchor, uint32_t& node) {
  auto it = anchors_.find(anchor);
  if (it == anchors_.end()) {
    return YamlProblem{at, fmt::format("invalid YAML: the alias *{} refers to no anchor &{} "
                                       "before it; expected an anchor defined earlier",
                                       anchor.substr(0, 64), anchor.substr(0, 64))};
  }
  if (it->second.size == kOpen) {
    return YamlProblem{at,
                       "this alias refers to a node that contains it; expected an alias of a node "
                       "that is complete before the alias"};
  }
  const size_t size = it->second.size;
  node = it->second.node;
  add(size);
  if (total_ > budget_) {
    return YamlProblem{at, fmt::format("with its aliases expanded the text would hold more than {} "
                                       "YAML nodes (this alias stands for {}); the limit is one "
                                       "node per byte of the text ({} bytes), at least {}: "
                                       "expected fewer or smaller aliases (write the repeated "
                                       "part out)",
                                       budget_, size, bytes_, kMinYamlNodeBudget)};
  }
  return std::nullopt;
}

}  // namespace ovl
