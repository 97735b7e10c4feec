// Parsing and validation of ovl's two configuration files:
//  - agent.yaml: how this node's agent runs (AgentConfig);
//  - the cluster file of the `file` datastore: network + nodes (Cluster).
// Every problem is a ConfigIssue naming file:line:column, the field and what was expected.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "model/cluster.h"

namespace ovl {

struct ConfigIssue {
  SourceMark mark;
  std::string field;             // dotted path, e.g. "nodes[2].podSubnet" or "network.vni"
  std::string message;           // what is wrong and what was expected
  std::string toString() const;  // "cluster.yaml:12:5: nodes[2].podSubnet: ..."
};

// agent.yaml's `etcd` section: where the etcd datastore is and how this node holds its lease.
struct EtcdConfig {
  static constexpr const char* kDefaultPrefix = "/ovl";
  static constexpr int kDefaultLeaseTtlSeconds = 10;
  static constexpr int kMinLeaseTtlSeconds = 2;  // etcd's own minimum with default timings
  static constexpr int kMaxLeaseTtlSeconds = 3600;

  std::vector<std::string> endpoints;   // etcd.endpoints: "host:port" (required with etcd)
  std::string prefix = kDefaultPrefix;  // etcd.prefix: every key starts with it
  std::string caFile;                   // etcd.caFile: TLS; relative to agent.yaml
  std::string certFile;                 // etcd.certFile: client certificate (mTLS)
  std::string keyFile;                  // etcd.keyFile: its key
  int leaseTtlSeconds = kDefaultLeaseTtlSeconds;  // etcd.leaseTTL: the node's lease, 2..3600
};

// agent.yaml. Every field has a named default; only nodeName is required.
struct AgentConfig {
  static constexpr const char* kDefaultVtepPrefix = "ovl.";  // VTEP name = "ovl.<vni>"
  static constexpr const char* kDefaultBridge = "ovlbr0";
  static constexpr const char* kDefaultHealthAddress = "127.0.0.1:9765";
  static constexpr const char* kDefaultStateDir = "/run/ovl";
  static constexpr int kDefaultResyncSeconds = 60;

  std::string nodeName;                     // nodeName (required): this node's entry in the cluster
  std::string datastore = "file";           // datastore: file | etcd
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
  // underlayIP: this node's underlay address. Required with the etcd datastore, where the node
  // registers itself (with the file datastore it comes from the cluster file).
  std::optional<Ipv4> underlayIp;
  EtcdConfig etcd;  // etcd: required with datastore etcd

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
  // Whether a bad node entry stops the agent at start-up. True for a cluster file, which its
  // author fixes before starting; false for a datastore where every node writes its own entry,
  // so one broken entry must not keep the other nodes from starting.
  bool strictStartup = true;
  uint64_t revision = 0;  // the datastore's revision this was read at (0 = not versioned)
};
ClusterLoad loadClusterFile(const std::string& path);
ClusterLoad parseCluster(const std::string& yamlText, const std::string& fileName);

// A cluster stored as separate documents (the etcd datastore: one key each), each written as
// the part of the cluster file it stands for: the network section, one `nodes` entry, one
// `services` entry (YAML, or JSON, which YAML reads too). Each document is parsed once when
// set; build() validates them all together, as the entries of one cluster file are, and names
// each problem by its document's source (the key) with line and column inside it. A document
// with a problem is skipped; the others are kept.
class ClusterDocuments {
 public:
  struct Doc;  // a parsed document

  // networkSource: the name reported when the network document is missing.
  explicit ClusterDocuments(std::string networkSource);
  ~ClusterDocuments();
  ClusterDocuments(ClusterDocuments&&) noexcept;
  ClusterDocuments& operator=(ClusterDocuments&&) noexcept;

  void setNetwork(const std::string& source, const std::string& text);
  void clearNetwork();
  // A node document may also carry `ready: true|false` (its agent's status), which is not part
  // of the node's configuration and is ignored here.
  void setNode(const std::string& source, const std::string& text);
  void setService(const std::string& source, const std::string& text);
  void erase(const std::string& source);  // a node or service

  // The services of a service file (`services:` with a list as in the cluster file, a bare list,
  // or one service map) as documents named "FILE[i]", with marks in the file. Returns each
  // entry's id ("ns/name", "" when it has none) and its text to store; syntax problems go to
  // `issues`.
  struct ServiceEntry {
    std::string source;  // "FILE[i]"
    std::string id;
    std::string text;
    SourceMark mark;
  };
  std::vector<ServiceEntry> addServiceFile(const std::string& fileName, const std::string& text,
                                           std::vector<ConfigIssue>& issues);

  // Everything, validated together. Service documents are read again only when they (or the
  // network settings) changed since the last build() or serviceChanges().
  ClusterLoad build();

  // Whether a document was set or erased since the last build() or serviceChanges().
  bool changed() const;
  // When only service documents changed since then and the last build() was usable (not
  // fatal): the difference a build() would make to the services accepted before. Only the
  // changed documents and those sharing a cluster IP, port or id with them are read and checked
  // again; the list of problems is put together from every service's kept ones (a walk, no
  // parsing). Otherwise nullopt: build() instead.
  struct ServiceChanges {
    std::vector<svc::Service> upserts;  // accepted now, new or changed
    std::vector<std::string> removed;   // ids accepted before and no more
    std::vector<ConfigIssue> issues;    // every current problem, as build() would list them
  };
  std::optional<ServiceChanges> serviceChanges();

 private:
  struct Impl;
  static Doc parseDoc(const std::string& source, const std::string& text);
  std::string networkSource_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ovl
