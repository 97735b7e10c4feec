// agent.yaml: how this node's agent runs (AgentConfig, with its etcd section), and its parser.
// Every problem is a ConfigIssue naming file:line:column, the field and what was expected.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/ip.h"
#include "model/config_issue.h"
#include "model/source_mark.h"

namespace ovl {

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
  // etcd.podSubnet: the only pod subnet this node claims (pinned by the admin, whose etcd role
  // for the node allows writing that one claim); unset = any free subnet of podCIDR.
  std::optional<Ipv4Prefix> podSubnet;
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
  // Not fatal: OVL_* variables that name no field ("OVL_NODENAME is not ...; ignored").
  std::vector<std::string> warnings;
};

// The environment as the agent and ovlctl see it: name -> value. Passed in (not read here) so
// that parsing stays a pure function of its inputs.
using Environment = std::map<std::string, std::string>;

// OVL_* environment variables override agent.yaml's fields, one variable per field (for a
// systemd unit's Environment= or /etc/default/ovl): OVL_NODE_NAME -> nodeName,
// OVL_ETCD_ENDPOINTS -> etcd.endpoints (a comma-separated list), ... A value is checked exactly
// as the same value in the file (it is put into the document before the document is parsed), and
// a problem with it is reported as "OVL_X (environment): field: ...".
struct EnvironmentVariable {
  const char* name;   // "OVL_HEALTH_ADDRESS"
  const char* field;  // "healthAddress", "etcd.endpoints"
};
const std::vector<EnvironmentVariable>& agentEnvironmentVariables();
// The OVL_* entries of a NULL-terminated "NAME=value" array such as environ.
Environment ovlEnvironment(const char* const* envp);

AgentConfigResult loadAgentConfig(const std::string& path, const Environment& env = {});
AgentConfigResult parseAgentConfig(const std::string& yamlText, const std::string& fileName,
                                   const Environment& env = {});

}  // namespace ovl
