// Internal to model/: the cluster file's parse in parts, for its incremental re-read
// (model/cluster_increment.h): what the whole-file parse found outside the services list, where
// the list's entries are and each entry as read on its own; and the parse of one entry from its
// own lines, exactly as the whole-file parse reads it.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/cluster_file.h"
#include "model/network_parser.h"
#include "model/service_claims.h"
#include "model/service_scan.h"

namespace ovl {

struct ClusterParts {
  ClusterLoad load;                   // what parseCluster gives
  std::optional<ServiceLines> split;  // set when the services were read one at a time
  // The issues of everything but the services (network, nodes), in the order they were found,
  // before the services' issues were added and the whole list sorted.
  std::vector<ConfigIssue> restIssues;
  NetworkFacts facts;
  std::vector<std::shared_ptr<const ParsedService>> entries;  // each entry, when split
};
ClusterParts parseClusterParts(const std::string& yamlText, const std::string& fileName);

// The entry `index` of the services list from its own text, which starts at (0-based) line
// `firstLine` of the file. Its issues, a YAML error in these lines too, are the result's.
ParsedService parseServiceEntry(const std::string& fileName, const std::string& entryText,
                                size_t firstLine, size_t index, const NetworkFacts& facts);

}  // namespace ovl
