#include "model/service_scan.h"

#include "model/yaml_limits.h"
#include "model/yaml_tree.h"

#include <algorithm>

namespace ovl {

namespace {

// The events of one document: where the list starts, each of its entries starts, and the list
// ends; and whether the layout qualifies (see ServiceLines).
class ServiceLineScan {
 public:
  explicit ServiceLineScan(const std::vector<std::string_view>& lines) : lines_(lines) {}

  std::optional<ServiceLines> result() {
    if (!usable_ || state_ == State::kBefore || state_ == State::kIn) {
      return std::nullopt;
    }
    if (state_ == State::kAfter) {
      out_.end = lines_.size();
    }
    if (out_.itemStart.empty() || out_.end <= last_) {
      return std::nullopt;
    }
    return out_;
  }

  int depth() const { return depth_; }

  // One event of the first document; false once it ends.
  bool on(const yaml_event_t& e) {
    const YamlMark m{static_cast<int>(e.start_mark.line), static_cast<int>(e.start_mark.column)};
    switch (e.type) {
      case YAML_SCALAR_EVENT:
        if (depth_ == 1 && expectKey_ &&
            std::string_view(reinterpret_cast<const char*>(e.data.scalar.value),
                             e.data.scalar.length) == "services") {
          usable_ = usable_ && state_ == State::kBefore;
          servicesKey_ = true;
        }
        node(m, e.data.scalar.anchor != nullptr, false);
        return true;
      case YAML_ALIAS_EVENT:
        if (state_ == State::kIn) {
          usable_ = false;
        }
        node(m, false, false);
        return true;
      case YAML_SEQUENCE_START_EVENT:
        if (depth_ == 1 && !expectKey_ && servicesKey_) {
          if (e.data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE) {
            usable_ = false;
          }
          state_ = State::kIn;
          servicesKey_ = false;
          ++depth_;
          return true;
        }
        node(m, e.data.sequence_start.anchor != nullptr, true);
        return true;
      case YAML_MAPPING_START_EVENT:
        node(m, e.data.mapping_start.anchor != nullptr, true);
        return true;
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT:
        close();
        return true;
      default:
        return e.type != YAML_DOCUMENT_END_EVENT;
    }
  }

 private:
  enum class State { kBefore, kIn, kAfter, kDone };

  void node(const YamlMark& m, bool anchor, bool opens) {
    const size_t line = static_cast<size_t>(std::max(m.line, 0));
    if (state_ == State::kIn) {
      if (anchor) {
        usable_ = false;
      }
      if (depth_ == 2) {  // an entry starts: "- " and nothing else before it on its line
        if (!out_.itemStart.empty() && line <= last_) {
          usable_ = false;
        }
        const std::string_view before = line < lines_.size()
                                            ? lines_[line].substr(0, static_cast<size_t>(m.column))
                                            : std::string_view{};
        const size_t dash = before.find_first_not_of(' ');
        if (dash == std::string_view::npos || before[dash] != '-' ||
            before.find_first_not_of(' ', dash + 1) != std::string_view::npos) {
          usable_ = false;
        }
        out_.itemStart.push_back(line);
      }
      last_ = std::max(last_, line);
    } else if (state_ == State::kAfter && depth_ == 1) {
      out_.end = line;  // the next top-level key
      state_ = State::kDone;
    }
    if (depth_ == 1 && !opens) {  // a container counts when it closes
      expectKey_ = !expectKey_;
      if (expectKey_) {
        servicesKey_ = false;
      }
    }
    if (opens) {
      ++depth_;
    }
  }
  void close() {
    --depth_;
    if (depth_ == 1) {
      if (state_ == State::kIn) {
        state_ = State::kAfter;
      }
      expectKey_ = !expectKey_;
      servicesKey_ = false;
    }
  }

  const std::vector<std::string_view>& lines_;
  ServiceLines out_;
  State state_ = State::kBefore;
  int depth_ = 0;  // 1 = in the top-level map
  bool expectKey_ = true;
  bool servicesKey_ = false;  // the last top-level key was `services`
  bool usable_ = true;
  size_t last_ = 0;  // the last line an event of the list started on
};

}  // namespace

std::vector<std::string_view> splitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) {
      lines.push_back(text.substr(start));
      break;
    }
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

std::optional<ServiceLines> findServiceLines(const std::string& text,
                                             const std::vector<std::string_view>& lines) {
  YamlEvents events(text);
  ServiceLineScan scan(lines);
  while (const yaml_event_t* e = events.next()) {
    if (!scan.on(*e)) {
      return scan.result();
    }
    // Deeper than a file may be: the whole-file parse reports it. Stopping here also keeps
    // libyaml's scanner, whose cost per token grows with the flow depth, from reading on.
    if (scan.depth() > static_cast<int>(kMaxFileDepth)) {
      return std::nullopt;
    }
  }
  return std::nullopt;  // a syntax error (the whole-file parse reports it), or no document
}

}  // namespace ovl
