// OVL_* environment variables over agent.yaml (model/agent_config.h): every field, the checks
// they get (the file's own), errors named by the variable, unknown variables warned about.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "model/agent_config.h"
#include "tests/unit/model/config_issues.h"

namespace ovl {
namespace {

using test::dump;

constexpr const char* kAgentFile = "/etc/ovl/agent.yaml";
constexpr const char* kMinimal = "nodeName: node1\nclusterFile: /etc/ovl/cluster.yaml\n";
constexpr const char* kEtcd = R"(nodeName: node1
datastore: etcd
underlayIP: 192.168.50.1
etcd:
  endpoints: [10.0.0.1:2379]
)";

// The one issue there is, as printed.
std::string onlyIssue(const AgentConfigResult& r) {
  EXPECT_EQ(r.issues.size(), 1u) << dump(r.issues);
  return r.issues.empty() ? "" : r.issues.front().toString();
}

TEST(AgentConfigEnvironment, EveryTopLevelFieldIsOverridden) {
  const Environment env = {
      {"OVL_NODE_NAME", "node-9"},
      {"OVL_CLUSTER_FILE", "/srv/c.yaml"},
      {"OVL_UNDERLAY_INTERFACE", "enp1s0"},
      {"OVL_VTEP_NAME", "vx0"},
      {"OVL_BRIDGE_NAME", "br-pods"},
      {"OVL_HEALTH_ADDRESS", "0.0.0.0:8080"},
      {"OVL_STATE_DIR", "/var/lib/ovl"},
      {"OVL_ENDPOINTS_DIR", "/srv/endpoints"},
      {"OVL_RESYNC_SECONDS", "300"},
      {"OVL_LOG_LEVEL", "DEBUG"},
      {"OVL_RP_FILTER", "warn"},
      {"OVL_DATASTORE", "file"},
  };
  auto r = parseAgentConfig(kMinimal, kAgentFile, env);
  ASSERT_TRUE(r.issues.empty()) << dump(r.issues);
  EXPECT_TRUE(r.warnings.empty());
  const AgentConfig& c = r.config;
  EXPECT_EQ(c.nodeName, "node-9");
  EXPECT_EQ(c.datastore, "file");
  EXPECT_EQ(c.clusterFile, "/srv/c.yaml");
  EXPECT_EQ(c.underlayInterface, "enp1s0");
  EXPECT_EQ(c.vtepName, "vx0");
  EXPECT_EQ(c.bridgeName, "br-pods");
  EXPECT_EQ(c.healthAddress, "0.0.0.0:8080");
  EXPECT_EQ(c.stateDir, "/var/lib/ovl");
  EXPECT_EQ(c.endpointsDir, "/srv/endpoints");
  EXPECT_EQ(c.resyncSeconds, 300);
  EXPECT_EQ(c.logLevel, "debug");  // levels in any case, as --log-level takes them
  EXPECT_EQ(c.rpFilter, "warn");
}

TEST(AgentConfigEnvironment, EveryEtcdFieldIsOverridden) {
  const Environment env = {
      {"OVL_ETCD_ENDPOINTS", "https://10.0.0.5:2379, 10.0.0.6:2379"},
      {"OVL_ETCD_PREFIX", "/lab"},
      {"OVL_ETCD_CA_FILE", "/etc/ovl/ca.pem"},
      {"OVL_ETCD_CERT_FILE", "/etc/ovl/client.pem"},
      {"OVL_ETCD_KEY_FILE", "/etc/ovl/client-key.pem"},
      {"OVL_ETCD_LEASE_TTL", "30"},
      {"OVL_UNDERLAY_IP", "192.168.50.9"},
  };
  auto r = parseAgentConfig(kEtcd, kAgentFile, env);
  ASSERT_TRUE(r.issues.empty()) << dump(r.issues);
  const EtcdConfig& e = r.config.etcd;
  EXPECT_EQ(e.endpoints, (std::vector<std::string>{"10.0.0.5:2379", "10.0.0.6:2379"}));
  EXPECT_EQ(e.prefix, "/lab");
  EXPECT_EQ(e.caFile, "/etc/ovl/ca.pem");
  EXPECT_EQ(e.certFile, "/etc/ovl/client.pem");
  EXPECT_EQ(e.keyFile, "/etc/ovl/client-key.pem");
  EXPECT_EQ(e.leaseTtlSeconds, 30);
  EXPECT_EQ(r.config.underlayIp->toString(), "192.168.50.9");
}

// A file datastore turned into etcd by the environment alone: the etcd section is made for it.
TEST(AgentConfigEnvironment, DatastoreSwitchedToEtcdWithoutAnEtcdSection) {
  auto r = parseAgentConfig(kMinimal, kAgentFile,
                            {{"OVL_DATASTORE", "etcd"},
                             {"OVL_ETCD_ENDPOINTS", "10.0.0.1:2379"},
                             {"OVL_UNDERLAY_IP", "192.168.50.1"}});
  ASSERT_TRUE(r.issues.empty()) << dump(r.issues);
  EXPECT_EQ(r.config.datastore, "etcd");
  EXPECT_EQ(r.config.etcd.endpoints, std::vector<std::string>{"10.0.0.1:2379"});
}

// The same checks as the file's, the problem named by the variable.
TEST(AgentConfigEnvironment, BadValuesNameTheVariableAndWhatWasExpected) {
  struct Case {
    const char* name;
    const char* value;
    const char* text;  // expected start of the message, after the variable
    const char* base = kMinimal;
  };
  const Case cases[] = {
      {"OVL_HEALTH_ADDRESS", "x", "healthAddress: invalid address 'x'; expected \"IP:port\""},
      {"OVL_NODE_NAME", "Node_1", "nodeName: "},
      {"OVL_DATASTORE", "consul",
       "datastore: unsupported datastore 'consul'; expected file or etcd"},
      {"OVL_CLUSTER_FILE", "", "clusterFile: expected a file path, got ''"},
      {"OVL_UNDERLAY_INTERFACE", "ovl.1",
       "underlayInterface: underlayInterface 'ovl.1' has the form"},
      {"OVL_VTEP_NAME", "a-name-far-too-long-for-linux", "vtepName: "},
      {"OVL_BRIDGE_NAME", "bad name", "bridgeName: "},
      {"OVL_STATE_DIR", "", "stateDir: expected a directory path, got ''"},
      {"OVL_ENDPOINTS_DIR", "", "endpointsDir: expected a directory path, got ''"},
      {"OVL_RESYNC_SECONDS", "often", "resyncSeconds: expected an integer in 1..86400"},
      {"OVL_RESYNC_SECONDS", "0", "resyncSeconds: 0 is out of range"},
      {"OVL_LOG_LEVEL", "loud", "logLevel: unknown log level 'loud'; expected one of"},
      {"OVL_RP_FILTER", "strict", "rpFilter: unknown mode 'strict'; expected one of"},
      {"OVL_UNDERLAY_IP", "1.2.3", "underlayIP: ", kEtcd},
      {"OVL_UNDERLAY_IP", "192.168.50.1",
       "underlayIP: 'underlayIP' is only used with datastore etcd"},
      {"OVL_ETCD_ENDPOINTS", "10.0.0.1", "etcd.endpoints[0]: invalid endpoint '10.0.0.1'", kEtcd},
      {"OVL_ETCD_ENDPOINTS", "", "etcd.endpoints: expected a non-empty list", kEtcd},
      {"OVL_ETCD_PREFIX", "ovl/", "etcd.prefix: invalid prefix 'ovl/'", kEtcd},
      {"OVL_ETCD_LEASE_TTL", "1",
       "etcd.leaseTTL: 1 is out of range; expected an integer in 2..3600", kEtcd},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.name) + "=" + c.value);
    auto r = parseAgentConfig(c.base, kAgentFile, {{c.name, c.value}});
    const std::string want = std::string(c.name) + " (environment): " + c.text;
    EXPECT_EQ(onlyIssue(r).substr(0, want.size()), want) << dump(r.issues);
  }
}

// The checks across fields run after the override, as for the file: a certificate without its
// key, or a bridge named as the VTEP.
TEST(AgentConfigEnvironment, CrossFieldChecksRunAfterTheOverride) {
  auto r = parseAgentConfig(kEtcd, kAgentFile,
                            {{"OVL_ETCD_CA_FILE", "/ca.pem"}, {"OVL_ETCD_CERT_FILE", "/c.pem"}});
  EXPECT_NE(onlyIssue(r).find("certFile and keyFile go together"), std::string::npos);
  r = parseAgentConfig("nodeName: n1\nclusterFile: c.yaml\nvtepName: vx0\n", kAgentFile,
                       {{"OVL_BRIDGE_NAME", "vx0"}});
  EXPECT_NE(onlyIssue(r).find("expected three different names"), std::string::npos);
  // A file value the environment replaces is not checked: the value in effect is.
  r = parseAgentConfig("nodeName: n1\nclusterFile: c.yaml\nresyncSeconds: never\n", kAgentFile,
                       {{"OVL_RESYNC_SECONDS", "5"}});
  EXPECT_TRUE(r.issues.empty()) << dump(r.issues);
  EXPECT_EQ(r.config.resyncSeconds, 5);
}

// Relative paths from the environment are taken from agent.yaml's directory, as in the file.
TEST(AgentConfigEnvironment, RelativePathsAreBesideAgentYaml) {
  auto r = parseAgentConfig(kMinimal, kAgentFile, {{"OVL_CLUSTER_FILE", "lab.yaml"}});
  ASSERT_TRUE(r.issues.empty()) << dump(r.issues);
  EXPECT_EQ(r.config.clusterFile, "/etc/ovl/lab.yaml");
}

// An empty agent.yaml with everything in the environment.
TEST(AgentConfigEnvironment, EmptyFileWithEverythingInTheEnvironment) {
  auto r =
      parseAgentConfig("", kAgentFile, {{"OVL_NODE_NAME", "n1"}, {"OVL_CLUSTER_FILE", "/c.yaml"}});
  ASSERT_TRUE(r.issues.empty()) << dump(r.issues);
  EXPECT_EQ(r.config.nodeName, "n1");
}

TEST(AgentConfigEnvironment, UnknownVariablesAreWarnedAboutNotFatal) {
  auto r = parseAgentConfig(kMinimal, kAgentFile,
                            {{"OVL_NODENAME", "x"}, {"OVL_NODE_NAME", "n2"}, {"PATH", "/bin"}});
  ASSERT_TRUE(r.issues.empty()) << dump(r.issues);
  EXPECT_EQ(r.config.nodeName, "n2");
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("OVL_NODENAME is not an agent.yaml setting; ignored"),
            std::string::npos);
}

// One variable per field of agent.yaml, no two alike.
TEST(AgentConfigEnvironment, OneVariablePerField) {
  std::set<std::string> names, fields;
  for (const auto& v : agentEnvironmentVariables()) {
    EXPECT_TRUE(names.insert(v.name).second) << v.name;
    EXPECT_TRUE(fields.insert(v.field).second) << v.field;
    EXPECT_EQ(std::string(v.name).rfind("OVL_", 0), 0u) << v.name;
  }
  EXPECT_EQ(fields, (std::set<std::string>{
                        "nodeName",      "datastore",      "clusterFile",   "underlayInterface",
                        "underlayIP",    "vtepName",       "bridgeName",    "healthAddress",
                        "stateDir",      "endpointsDir",   "resyncSeconds", "logLevel",
                        "rpFilter",      "etcd.endpoints", "etcd.prefix",   "etcd.caFile",
                        "etcd.certFile", "etcd.keyFile",   "etcd.leaseTTL", "etcd.podSubnet"}));
}

TEST(AgentConfigEnvironment, OvlEnvironmentKeepsOnlyOvlVariables) {
  const char* envp[] = {"PATH=/bin", "OVL_NODE_NAME=n1",           "OVL_EMPTY=",
                        "OVLX=1",    "OVL_ETCD_ENDPOINTS=a:1,b:2", nullptr};
  EXPECT_EQ(
      ovlEnvironment(envp),
      (Environment{{"OVL_NODE_NAME", "n1"}, {"OVL_EMPTY", ""}, {"OVL_ETCD_ENDPOINTS", "a:1,b:2"}}));
  EXPECT_TRUE(ovlEnvironment(nullptr).empty());
}

}  // namespace
}  // namespace ovl
