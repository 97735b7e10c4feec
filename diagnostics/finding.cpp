#include "diagnostics/finding.h"

#include <fmt/format.h>

namespace ovl::diag {

std::string toString(Severity s) {
  switch (s) {
    case Severity::kError:
      return "error";
    case Severity::kWarning:
      return "warning";
    case Severity::kInfo:
      return "info";
  }
  return "?";
}

size_t Report::problems() const {
  size_t n = 0;
  for (const auto& f : findings) {
    if (f.severity != Severity::kInfo && !f.fixed) {
      ++n;
    }
  }
  return n;
}

int Report::exitCode() const {
  if (problems() > 0) {
    return 1;
  }
  return notChecked.empty() ? 0 : 2;
}

namespace {

// Each line of text, prefixed and word-wrapped at kWidth columns.
constexpr size_t kWidth = 96;
std::string indent(const std::string& text, const std::string& prefix) {
  std::string out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) {
      end = text.size();
    }
    std::string line = text.substr(start, end - start);
    while (prefix.size() + line.size() > kWidth) {
      size_t cut = line.rfind(' ', kWidth - prefix.size());
      if (cut == std::string::npos || cut == 0) {
        break;
      }
      out += prefix + line.substr(0, cut) + "\n";
      line = line.substr(cut + 1);
    }
    out += prefix + line + "\n";
    start = end + 1;
  }
  return out;
}

}  // namespace

std::string formatHuman(const Report& r) {
  std::string out =
      fmt::format("ovl diagnose on node {}: {} check(s) run, ", r.node, r.checksRun.size());
  const size_t problems = r.problems();
  out += problems == 0 ? "no problems" : fmt::format("{} problem(s)", problems);
  if (!r.notChecked.empty()) {
    out += fmt::format(", {} could not run", r.notChecked.size());
  }
  out += "\n";
  // Open findings by severity, then what --fix settled.
  for (int g = 0; g < 4; ++g) {
    const bool fixedGroup = g == 3;
    const Severity sev = fixedGroup ? Severity::kError : static_cast<Severity>(g);
    std::vector<const Finding*> group;
    for (const auto& f : r.findings) {
      if (fixedGroup ? f.fixed : (!f.fixed && f.severity == sev)) {
        group.push_back(&f);
      }
    }
    if (group.empty()) {
      continue;
    }
    std::string name = fixedGroup ? "fixed" : toString(sev);
    for (auto& c : name) {
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    out += fmt::format("\n{} ({})\n", name, group.size());
    for (const Finding* f : group) {
      out += fmt::format("* [{}] {}: {}{}\n", f->check, f->subject, f->title,
                         fixedGroup ? fmt::format(" (was: {})", toString(f->severity)) : "");
      if (!f->explanation.empty()) {
        out += indent(f->explanation, "    ");
      }
      for (const auto& [k, v] : f->evidence) {
        out += fmt::format("    {}: {}\n", k, v);
      }
      if (!f->fixCommand.empty()) {
        out += fmt::format("    fix: {}{}\n", f->fixCommand,
                           f->fixable && !f->fixed ? "   (or: ovlctl diagnose --fix)" : "");
      }
    }
  }
  if (!r.notChecked.empty()) {
    out += fmt::format("\nNOT CHECKED ({})\n", r.notChecked.size());
    for (const auto& n : r.notChecked) {
      out += "* " + n + "\n";
    }
  }
  if (!r.actions.empty()) {
    out += fmt::format("\nCHANGED ({})\n", r.actions.size());
    for (const auto& a : r.actions) {
      out += "* " + a + "\n";
    }
  }
  return out;
}

nlohmann::json toJson(const Finding& f) {
  nlohmann::json ev = nlohmann::json::array();
  for (const auto& [k, v] : f.evidence) {
    ev.push_back({{"name", k}, {"value", v}});
  }
  return {{"check", f.check},
          {"severity", toString(f.severity)},
          {"subject", f.subject},
          {"title", f.title},
          {"explanation", f.explanation},
          {"evidence", ev},
          {"fixCommand", f.fixCommand},
          {"fixable", f.fixable},
          {"fixed", f.fixed}};
}

nlohmann::json toJson(const Report& r) {
  nlohmann::json findings = nlohmann::json::array();
  for (const auto& f : r.findings) {
    findings.push_back(toJson(f));
  }
  return {{"schemaVersion", kJsonSchemaVersion},
          {"node", r.node},
          {"exitCode", r.exitCode()},
          {"problems", r.problems()},
          {"checksRun", r.checksRun},
          {"findings", findings},
          {"notChecked", r.notChecked},
          {"actions", r.actions}};
}

}  // namespace ovl::diag
