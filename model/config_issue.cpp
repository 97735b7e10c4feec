#include "model/config_issue.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

namespace ovl {

std::string SourceMark::toString() const {
  if (line == 0) {
    return file;
  }
  return fmt::format("{}:{}:{}", file, line, column);
}

std::string ConfigIssue::toString() const {
  std::string out = mark.toString() + ": ";
  if (!field.empty()) {
    out += field + ": ";
  }
  return out + message;
}

void sortByPosition(std::vector<ConfigIssue>& issues) {
  std::stable_sort(issues.begin(), issues.end(), [](const ConfigIssue& a, const ConfigIssue& b) {
    return std::pair(a.mark.line, a.mark.column) < std::pair(b.mark.line, b.mark.column);
  });
}

}  // namespace ovl
