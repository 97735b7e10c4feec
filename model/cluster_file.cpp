#include "model/cluster_file.h"

#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string_view>

#include "model/cluster_parts.h"
#include "model/network_parser.h"
#include "model/node_parser.h"
#include "model/service_claims.h"
#include "model/service_parser.h"
#include "model/service_scan.h"
#include "model/yaml_reader.h"

namespace ovl {

namespace {

constexpr std::string_view kClusterFields[] = {"network", "nodes", "services"};

// One cluster file: the network section first, then the nodes and the services, each entry
// checked against those before it.
class ClusterFileParser {
 public:
  ClusterFileParser(const std::string& fileName, ClusterParts& parts)
      : parts_(parts),
        out_(parts.load),
        fileName_(fileName),
        r_(fileName, out_.issues),
        nodes_(r_) {}

  void parse(const std::string& text);

 private:
  std::shared_ptr<YamlTree> loadRest(const std::string& text,
                                     const std::vector<std::string_view>& lines,
                                     const std::optional<ServiceLines>& split);
  void parseNodes(const Fields& top, const NetworkFacts& facts);
  void parseServiceLines(const std::string& text, const std::vector<std::string_view>& lines,
                         const ServiceLines& split, const NetworkFacts& facts);
  void parseServiceList(const Fields& top, const NetworkFacts& facts);
  void addService(const YamlNode& entry, const std::string& path, const NetworkFacts& facts);

  ClusterParts& parts_;
  ClusterLoad& out_;
  std::string fileName_;
  Reader r_;
  NodeParser nodes_;
  ServiceClaims services_;
};

void ClusterFileParser::parse(const std::string& text) {
  // Services one at a time where the layout allows (see ServiceLines): the rest of the file
  // is parsed with the list's lines blanked out (so every position stays where it was),
  // then each entry from its own lines.
  const std::vector<std::string_view> lines = splitLines(text);
  const std::optional<ServiceLines> split = findServiceLines(text, lines);
  std::shared_ptr<YamlTree> tree = loadRest(text, lines, split);
  if (!tree) {
    out_.fatal = true;
    return;
  }
  const YamlNode root = tree->root();
  if (!root.isMap()) {
    r_.issue(root, "",
             fmt::format("expected a map with fields {}; got {}", joinNames(kClusterFields),
                         describe(root)));
    out_.fatal = true;
    return;
  }
  Fields top = r_.fields(root, "", kClusterFields);
  NetworkFacts facts;
  if (const YamlNode* net = r_.require(top, root, "", "network",
                                       "a map with podCIDR and the other network settings")) {
    facts = parseNetwork(r_, *net, out_.cluster.network);
  }
  out_.fatal = r_.issueCount() > 0;
  parseNodes(top, facts);
  parts_.restIssues = out_.issues;
  parts_.facts = facts;
  parts_.split = split;

  // Service issues are never fatal: a bad service is rejected, the others are kept.
  if (split) {
    parseServiceLines(text, lines, *split, facts);
  } else {
    parseServiceList(top, facts);
  }
}

// The whole text, or, when the services are to be read one at a time, the text with the lines
// of the services list blanked out.
std::shared_ptr<YamlTree> ClusterFileParser::loadRest(const std::string& text,
                                                      const std::vector<std::string_view>& lines,
                                                      const std::optional<ServiceLines>& split) {
  if (!split) {
    return r_.load(text);
  }
  // The list's lines become empty lines: every line keeps its number, and the parser skips
  // them at little cost (blanks would still be scanned byte by byte). The alias budget stays
  // that of the whole file.
  const size_t from = static_cast<size_t>(lines[split->itemStart.front()].data() - text.data());
  const size_t to = split->end < lines.size()
                        ? static_cast<size_t>(lines[split->end].data() - text.data())
                        : text.size();
  std::string rest;
  rest.reserve(from + (split->end - split->itemStart.front()) + (text.size() - to));
  rest.append(text, 0, from);
  rest.append(static_cast<size_t>(std::count(text.begin() + static_cast<std::ptrdiff_t>(from),
                                             text.begin() + static_cast<std::ptrdiff_t>(to), '\n')),
              '\n');
  rest.append(text, to);
  return r_.load(rest, text.size());
}

void ClusterFileParser::parseNodes(const Fields& top, const NetworkFacts& facts) {
  // No nodes yet is valid: the agent reports its own node missing.
  const YamlNode* nodes = Reader::find(top, "nodes");
  if (nodes == nullptr) {
    return;
  }
  if (!nodes->isSequence()) {
    r_.issue(
        *nodes, "nodes",
        fmt::format("expected a sequence of node entries (- name: ...); got {}", describe(*nodes)));
    out_.fatal = true;
    return;
  }
  size_t index = 0;
  for (const auto& entry : *nodes) {
    if (auto node = nodes_.parse(entry, fmt::format("nodes[{}]", index++), facts)) {
      out_.cluster.nodes.push_back(std::move(*node));
    }
  }
}

// Each entry of the services list from its own lines (see ServiceLines).
void ClusterFileParser::parseServiceLines(const std::string& text,
                                          const std::vector<std::string_view>& lines,
                                          const ServiceLines& split, const NetworkFacts& facts) {
  for (size_t i = 0; i < split.itemStart.size(); ++i) {
    const size_t first = split.itemStart[i];
    const size_t last = i + 1 < split.itemStart.size() ? split.itemStart[i + 1] : split.end;
    const char* begin = lines[first].data();
    const char* end = last < lines.size() ? lines[last].data() : text.data() + text.size();
    auto parsed = std::make_shared<const ParsedService>(
        parseServiceEntry(fileName_, std::string(begin, end), first, i, facts));
    parts_.entries.push_back(parsed);
    services_.add(std::move(parsed), out_.cluster.services, out_.issues);
  }
}

// The services list from the whole file's tree (layouts the scan does not split).
void ClusterFileParser::parseServiceList(const Fields& top, const NetworkFacts& facts) {
  const YamlNode* services = Reader::find(top, "services");
  if (services == nullptr) {
    return;
  }
  if (!services->isSequence()) {
    r_.issue(*services, "services",
             fmt::format("expected a sequence of service entries (- namespace: ...); got {}",
                         describe(*services)));
    return;
  }
  size_t index = 0;
  for (const auto& entry : *services) {
    addService(entry, fmt::format("services[{}]", index++), facts);
  }
}

void ClusterFileParser::addService(const YamlNode& entry, const std::string& path,
                                   const NetworkFacts& facts) {
  services_.add(std::make_shared<const ParsedService>(parseService(r_, entry, path, facts)),
                out_.cluster.services, out_.issues);
}

}  // namespace

ParsedService parseServiceEntry(const std::string& fileName, const std::string& entryText,
                                size_t firstLine, size_t index, const NetworkFacts& facts) {
  std::vector<ConfigIssue> issues;
  Reader r(fileName, issues);
  r.setLineOffset(firstLine);
  const std::string path = fmt::format("services[{}]", index);
  std::shared_ptr<YamlTree> entry = r.load(std::string_view(entryText));
  if (entry && entry->root().isSequence() && entry->root().size() == 1) {
    return parseService(r, *entry->root().begin(), path, facts);
  }
  if (entry) {
    r.setLineOffset(0);
    // Not expected: the scan checked that every entry has lines of its own.
    YamlMark at;
    at.line = static_cast<int>(firstLine);
    at.column = 0;
    r.issue(r.markOf(at), path, "expected one service entry (- namespace: ...) on these lines");
  }
  // Rejected as it stands: its issues (a YAML error in its lines too) are listed as they are.
  ParsedService bad;
  bad.issues = std::move(issues);
  bad.who = path;
  bad.annotate = false;
  return bad;
}

ClusterParts parseClusterParts(const std::string& yamlText, const std::string& fileName) {
  ClusterParts parts;
  ClusterLoad& out = parts.load;
  ClusterFileParser(fileName, parts).parse(yamlText);
  sortByPosition(out.issues);
  return parts;
}

ClusterLoad parseCluster(const std::string& yamlText, const std::string& fileName) {
  return std::move(parseClusterParts(yamlText, fileName).load);
}

ClusterLoad loadClusterFile(const std::string& path) {
  auto text = readConfigFile(path);
  if (!text) {
    ClusterLoad out;
    out.fatal = true;
    out.issues.push_back(ConfigIssue{SourceMark{path}, "", text.error().message});
    return out;
  }
  return parseCluster(*text, path);
}

}  // namespace ovl
