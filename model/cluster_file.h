// The cluster file of the `file` datastore: network, nodes and services (Cluster) as loaded,
// with its issues (ClusterLoad), and its parser. Every problem is a ConfigIssue naming
// file:line:column, the field and what was expected.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "model/cluster.h"
#include "model/config_issue.h"

namespace ovl {

// The cluster file. Fatal issues (YAML syntax, bad network section) leave `cluster` unusable
// (fatal = true). Node issues reject only that node: `cluster.nodes` holds the valid rest.
struct ClusterLoad {
  Cluster cluster;
  std::vector<ConfigIssue> issues;
  bool fatal = false;
  // Whether a bad node entry stops the agent at start-up. True for a cluster file, which its
  // author fixes before starting; false for a datastore where every node writes its own entry,
  // so one broken entry must not keep the other nodes from starting.
  bool strictStartup = true;
  uint64_t revision = 0;  // the datastore's revision this was read at (0 = not versioned)
};
ClusterLoad loadClusterFile(const std::string& path);

// The whole of a configuration file (the cluster file, agent.yaml), or why it could not be read:
// a regular file of at most 64 MiB, far above any configuration. A device, a FIFO or a socket is
// refused before anything is read from it (/dev/zero never ends, a FIFO may never start).
Result<std::string> readConfigFile(const std::string& path);
ClusterLoad parseCluster(const std::string& yamlText, const std::string& fileName);

}  // namespace ovl
