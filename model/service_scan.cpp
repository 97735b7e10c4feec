#include "model/service_scan.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <sstream>

namespace ovl {

namespace {

// The events of one document: where the list starts, each of its entries starts, and the list
// ends; and whether the layout qualifies (see ServiceLines).
class ServiceLineScan : public YAML::EventHandler {
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

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& m, YAML::anchor_t a) override { node(m, a, false); }
  void OnAlias(const YAML::Mark& m, YAML::anchor_t) override {
    if (state_ == State::kIn) {
      usable_ = false;
    }
    node(m, 0, false);
  }
  void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t a,
                const std::string& value) override {
    if (depth_ == 1 && expectKey_ && value == "services") {
      usable_ = usable_ && state_ == State::kBefore;
      servicesKey_ = true;
    }
    node(m, a, false);
  }
  void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t a,
                       YAML::EmitterStyle::value style) override {
    if (depth_ == 1 && !expectKey_ && servicesKey_) {
      if (style == YAML::EmitterStyle::Flow) {
        usable_ = false;
      }
      state_ = State::kIn;
      servicesKey_ = false;
      ++depth_;
      return;
    }
    node(m, a, true);
  }
  void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t a,
                  YAML::EmitterStyle::value) override {
    node(m, a, true);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapEnd() override { close(); }

 private:
  enum class State { kBefore, kIn, kAfter, kDone };

  void node(const YAML::Mark& m, YAML::anchor_t anchor, bool opens) {
    const size_t line = static_cast<size_t>(std::max(m.line, 0));
    if (state_ == State::kIn) {
      if (anchor != 0) {
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
  try {
    std::istringstream in(text);
    YAML::Parser parser(in);
    ServiceLineScan scan(lines);
    parser.HandleNextDocument(scan);
    return scan.result();
  } catch (const YAML::Exception&) {
    return std::nullopt;  // the whole-file parse reports it
  }
}

}  // namespace ovl
