#include "model/config_issue.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

namespace ovl {

namespace {

// A file name is echoed longer than a value (paths are long), but bounded too.
constexpr size_t kMaxEchoedFileBytes = 256;

// The longest prefix of `value` of at most `max` bytes that does not end inside a UTF-8
// character (continuation bytes are 10xxxxxx).
size_t utf8Prefix(std::string_view value, size_t max) {
  if (value.size() <= max) {
    return value.size();
  }
  size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(value[end]) & 0xC0) == 0x80) {
    --end;
  }
  return end;
}

void appendEscaped(std::string& out, std::string_view part) {
  for (char ch : part) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += ch;
    }
  }
}

}  // namespace

std::string SourceMark::toString() const {
  const std::string name = clipValue(file, kMaxEchoedFileBytes);
  if (line == 0) {
    return name;
  }
  return fmt::format("{}:{}:{}", name, line, column);
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

std::string clipValue(std::string_view value, size_t max) {
  std::string out;
  const size_t keep = utf8Prefix(value, max);
  appendEscaped(out, value.substr(0, keep));
  if (keep < value.size()) {
    out += fmt::format("... ({} bytes)", value.size());
  }
  return out;
}

std::string quoteValue(std::string_view value) {
  std::string out = "'";
  const size_t keep = utf8Prefix(value, kMaxEchoedBytes);
  appendEscaped(out, value.substr(0, keep));
  if (keep < value.size()) {
    return out + fmt::format("...' ({} bytes)", value.size());
  }
  return out + "'";
}

std::vector<std::string> issueLines(const std::vector<ConfigIssue>& issues, size_t limit) {
  std::vector<std::string> out;
  const size_t shown = std::min(issues.size(), limit);
  out.reserve(shown + 1);
  for (size_t i = 0; i < shown; ++i) {
    out.push_back(issues[i].toString());
  }
  if (issues.size() > shown) {
    const size_t rest = issues.size() - shown;
    out.push_back(fmt::format("... and {} more issue{}", rest, rest == 1 ? "" : "s"));
  }
  return out;
}

}  // namespace ovl
