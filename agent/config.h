// Parsing and validation of ovl's two configuration files:
//  - agent.yaml: how this node's agent runs (AgentConfig);
//  - the cluster file of the `file` datastore: network + nodes (Cluster).
// Every problem is a ConfigIssue naming file:line:column, the field and what was expected.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "agent/cluster.h"
#include "common/result.h"

namespace ovl {

struct ConfigIssue {
  SourceMark mark;
  std::string field;             // dotted path, e.g. "nodes[2].podSubnet" or "network.vni"
  std::string message;           // what is wrong and what was expected
  std::string toString() const;  // "cluster.yaml:12:5: nodes[2].podSubnet: ..."
};

// agent.yaml. Every field has a named default; only nodeName is required.
struct AgentConfig {
  static constexpr const char* kDefaultVtepPrefix = "ovl.";  // VTEP name = "ovl.<vni>"
  static constexpr const char* kDefaultBridge = "ovlbr0";
  static constexpr const char* kDefaultHealthAddress = "127.0.0.1:9765";
  static constexpr const char* kDefaultStateDir = "/run/ovl";
  static constexpr int kDefaultResyncSeconds = 60;

  std::string nodeName;                     // nodeName (required): this node's entry in the cluster
  std::string datastore = "file";           // datastore: file (etcd comes later)
  std::string clusterFile;                  // clusterFile: path; relative paths are taken from
                                            //   the directory of agent.yaml
  std::string underlayInterface;            // underlayInterface: optional; default = the interface
                                            //   that holds this node's underlayIP
  std::string vtepName;                     // vtepName: default "ovl.<vni>"
  std::string bridgeName = kDefaultBridge;  // bridgeName
  std::string healthAddress = kDefaultHealthAddress;  // healthAddress: "IP:port", "" = off
  std::string stateDir = kDefaultStateDir;            // stateDir
  std::string
      endpointsDir;  // endpointsDir: ovl-cni's endpoint registrations; "" = <stateDir>/endpoints
  int resyncSeconds = kDefaultResyncSeconds;  // resyncSeconds: full re-read period
  std::string logLevel = "info";              // logLevel: trace|debug|info|warn|error
  // rpFilter: what the agent does when reverse-path filtering drops overlay traffic:
  // fix (set loose, 2, on exactly the interfaces that need it; default) | warn (log only) | off
  std::string rpFilter = "fix";

  std::string path;  // the file it was read from
  // Where each field was given (key = field name), for checks that can only be made later,
  // such as whether underlayInterface exists in this network namespace.
  std::map<std::string, SourceMark> marks;
};

struct AgentConfigResult {
  AgentConfig config;
  std::vector<ConfigIssue> issues;  // empty = valid
};
AgentConfigResult loadAgentConfig(const std::string& path);
AgentConfigResult parseAgentConfig(const std::string& yamlText, const std::string& fileName);

// The cluster file. Fatal issues (YAML syntax, bad network section) leave `cluster` unusable
// (fatal = true). Node issues reject only that node: `cluster.nodes` holds the valid rest.
struct ClusterLoad {
  Cluster cluster;
  std::vector<ConfigIssue> issues;
  bool fatal = false;
};
ClusterLoad loadClusterFile(const std::string& path);
ClusterLoad parseCluster(const std::string& yamlText, const std::string& fileName);

}  // namespace ovl
