// A small reader of the Prometheus text exposition format (0.0.4) for the tests of /metrics: it
// checks each line against the format (HELP/TYPE comments, metric and label names, escaped label
// values, sample values), that every sample belongs to a family declared by a TYPE line before it,
// and that each histogram's buckets are cumulative and end in +Inf = _count. What breaks the
// format is collected in `errors`, one message per line, so a test can show them all.
#pragma once

#include <cmath>
#include <cstdlib>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace ovl::test {

struct PromSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

class PromText {
 public:
  std::map<std::string, std::string> types;  // family -> counter, gauge, histogram, ...
  std::map<std::string, std::string> helps;  // family -> help text
  std::vector<PromSample> samples;
  std::vector<std::string> errors;

  // The value of the one sample with this name whose labels include `labels`; NaN when there is
  // none or more than one.
  double value(const std::string& name,
               const std::map<std::string, std::string>& labels = {}) const {
    double v = std::nan("");
    int found = 0;
    for (const auto& s : samples) {
      if (s.name != name) {
        continue;
      }
      bool all = true;
      for (const auto& [k, x] : labels) {
        auto it = s.labels.find(k);
        all = all && it != s.labels.end() && it->second == x;
      }
      if (all) {
        v = s.value;
        ++found;
      }
    }
    return found == 1 ? v : std::nan("");
  }

  static PromText parse(const std::string& text) {
    PromText p;
    std::istringstream in(text);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
      ++n;
      std::string problem = p.line(line);
      if (!problem.empty()) {
        p.errors.push_back("line " + std::to_string(n) + ": " + problem + ": " + line);
      }
    }
    p.checkHistograms();
    return p;
  }

 private:
  static bool parseValue(const std::string& s, double& v) {
    if (s == "+Inf" || s == "-Inf" || s == "NaN") {
      v = s == "NaN" ? std::nan("") : (s[0] == '+' ? INFINITY : -INFINITY);
      return true;
    }
    char* end = nullptr;
    v = std::strtod(s.c_str(), &end);
    return !s.empty() && end == s.c_str() + s.size();
  }

  // The family a sample name belongs to ("" = none declared).
  std::string familyOf(const std::string& name) const {
    if (types.contains(name)) {
      return types.at(name) == "histogram" ? "" : name;
    }
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      const std::string s(suffix);
      if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
        const std::string base = name.substr(0, name.size() - s.size());
        if (types.contains(base) && types.at(base) == "histogram") {
          return base;
        }
      }
    }
    return "";
  }

  std::string comment(const std::string& l) {
    static const std::regex kComment(R"(# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*))");
    std::smatch m;
    if (!std::regex_match(l, m, kComment)) {
      return "";  // a plain comment
    }
    if (m[1] == "HELP") {
      helps[m[2]] = m[3];
      return m[3].str().empty() ? "empty help text" : "";
    }
    static const std::regex kType("counter|gauge|histogram|summary|untyped");
    if (!std::regex_match(m[3].str(), kType)) {
      return "unknown type";
    }
    if (types.contains(m[2])) {
      return "second TYPE line for the family";
    }
    types[m[2]] = m[3];
    return "";
  }

  std::string line(const std::string& l) {
    if (l.empty()) {
      return "";
    }
    if (l[0] == '#') {
      return comment(l);
    }
    static const std::regex kSample(R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? ([^ ]+)( -?[0-9]+)?)");
    static const std::regex kLabel(R"re(([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\[\\"n])*)",?)re");
    std::smatch m;
    if (!std::regex_match(l, m, kSample)) {
      return "not a sample line";
    }
    PromSample s;
    s.name = m[1];
    if (!parseValue(m[4], s.value)) {
      return "bad sample value";
    }
    std::string labels = m[3];
    std::smatch lm;
    while (!labels.empty()) {
      if (!std::regex_search(labels, lm, kLabel) || lm.position(0) != 0) {
        return "bad label list";
      }
      if (!s.labels.emplace(lm[1], lm[2]).second) {
        return "label repeated";
      }
      labels = lm.suffix();
    }
    if (familyOf(s.name).empty()) {
      return "sample of no declared family";
    }
    samples.push_back(std::move(s));
    return "";
  }

  // Per histogram series: buckets non-decreasing in the order written, the last one +Inf and
  // equal to _count.
  void checkHistograms() {
    std::map<std::string, std::vector<std::pair<std::string, double>>> buckets;
    for (const auto& s : samples) {
      if (s.name.size() > 7 && s.name.ends_with("_bucket")) {
        auto labels = s.labels;
        const std::string le = labels.contains("le") ? labels["le"] : "";
        labels.erase("le");
        std::string key = s.name.substr(0, s.name.size() - 7);
        for (const auto& [k, v] : labels) {
          key += "|" + k + "=" + v;
        }
        buckets[key].emplace_back(le, s.value);
      }
    }
    for (const auto& [key, list] : buckets) {
      for (size_t i = 1; i < list.size(); ++i) {
        if (list[i].second < list[i - 1].second) {
          errors.push_back(key + ": bucket le=" + list[i].first + " below the one before");
        }
      }
      if (list.empty() || list.back().first != "+Inf") {
        errors.push_back(key + ": no +Inf bucket last");
        continue;
      }
      const auto bar = key.find('|');
      std::map<std::string, std::string> labels;
      std::string rest = bar == std::string::npos ? "" : key.substr(bar + 1);
      std::istringstream parts(rest);
      std::string part;
      while (std::getline(parts, part, '|')) {
        const auto eq = part.find('=');
        labels[part.substr(0, eq)] = part.substr(eq + 1);
      }
      const double count = value(key.substr(0, bar) + "_count", labels);
      if (!(count == list.back().second)) {
        errors.push_back(key + ": +Inf bucket differs from _count");
      }
    }
  }
};

}  // namespace ovl::test
