#include "model/yaml_limits.h"

#include <fmt/format.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <sstream>
#include <vector>

namespace ovl {

namespace {

// Thrown out of the event scan to stop it at the first breach: the rest of the text is never
// read, so a breach costs no more than the text up to it.
struct Stop {
  YamlLimitBreach breach;
};

// Counts each node's expanded size as the events arrive. An anchored node's size is known when
// it closes; an alias adds that size.
class LimitScan : public YAML::EventHandler {
 public:
  LimitScan(size_t budget, size_t maxDepth) : budget_(budget), maxDepth_(maxDepth) {}

  void OnDocumentStart(const YAML::Mark& m) override {
    if (++documents_ > 1) {
      throw Stop{{m,
                  "a second YAML document starts here; expected one document per file (remove "
                  "the '---' or '...' line and what follows, or move it to a file of its own)"}};
    }
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& m, YAML::anchor_t a) override { leaf(m, a, 1); }
  void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t a,
                const std::string&) override {
    leaf(m, a, 1);
  }
  void OnAlias(const YAML::Mark& m, YAML::anchor_t a) override {
    if (a >= sizes_.size() || sizes_[a] == kOpen) {
      throw Stop{{m,
                  "this alias refers to a node that contains it; expected an alias of a node "
                  "that is complete before the alias"}};
    }
    add(sizes_[a]);
    if (total_ > budget_) {
      throw Stop{{m, fmt::format("with its aliases expanded the text would hold more than {} "
                                 "YAML nodes (this alias stands for {}); the limit is one node "
                                 "per byte of the text ({} bytes), at least {}: expected "
                                 "fewer or smaller aliases (write the repeated part out)",
                                 budget_, sizes_[a], bytes_, kMinYamlNodeBudget)}};
    }
  }
  void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t a,
                       YAML::EmitterStyle::value) override {
    open(m, a);
  }
  void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t a,
                  YAML::EmitterStyle::value) override {
    open(m, a);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapEnd() override { close(); }

  void setBytes(size_t bytes) { bytes_ = bytes; }

 private:
  static constexpr size_t kOpen = static_cast<size_t>(-1);

  struct Open {
    YAML::anchor_t anchor;
    size_t size;
  };

  // Sums stop just above the budget: past it, only that it is exceeded matters.
  size_t saturated(size_t a, size_t b) const { return std::min(a + b, budget_ + 1); }
  void add(size_t n) {
    total_ = saturated(total_, n);
    if (!stack_.empty()) {
      stack_.back().size = saturated(stack_.back().size, n);
    }
  }
  void setAnchor(YAML::anchor_t a, size_t size) {
    if (a == 0) {
      return;  // no anchor
    }
    if (a >= sizes_.size()) {
      sizes_.resize(a + 1, 0);
    }
    sizes_[a] = size;
  }
  void leaf(const YAML::Mark&, YAML::anchor_t a, size_t n) {
    add(n);
    setAnchor(a, n);
  }
  void open(const YAML::Mark& m, YAML::anchor_t a) {
    if (maxDepth_ != 0 && stack_.size() >= maxDepth_) {
      throw Stop{
          {m, fmt::format("invalid YAML: nested too deeply (the limit is {} levels)", maxDepth_)}};
    }
    add(1);
    setAnchor(a, kOpen);
    stack_.push_back(Open{a, 1});
  }
  void close() {
    const Open done = stack_.back();
    stack_.pop_back();
    setAnchor(done.anchor, done.size);
    if (!stack_.empty()) {  // the container's own 1 is in the parent already
      stack_.back().size = saturated(stack_.back().size, done.size - 1);
    }
  }

  size_t budget_;
  size_t maxDepth_;
  size_t bytes_ = 0;
  size_t total_ = 0;
  int documents_ = 0;
  std::vector<Open> stack_;
  std::vector<size_t> sizes_;  // by anchor id; kOpen while the anchored node is being read
};

}  // namespace

bool mayBreakYamlLimits(std::string_view text) {
  return text.find('*') != std::string_view::npos || text.starts_with("...") ||
         text.find("\n---") != std::string_view::npos ||
         text.find("\n...") != std::string_view::npos;
}

std::optional<YamlLimitBreach> checkYamlLimits(const std::string& text, size_t maxDepth) {
  LimitScan scan(yamlNodeBudget(text.size()), maxDepth);
  scan.setBytes(text.size());
  try {
    std::istringstream in(text);
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(scan)) {
    }
  } catch (const Stop& stop) {
    return stop.breach;
  } catch (const YAML::Exception&) {
    // The parser that reads the text next reports it, at the same position.
  }
  return std::nullopt;
}

}  // namespace ovl
