// agent.yaml (model/agent_config.h): defaults, every field, its etcd section, and every problem
// named by file, line, field and what was expected.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "model/agent_config.h"
#include "tests/unit/model/config_issues.h"
#include "tests/unit/model/test_inputs.h"

namespace ovl {
namespace {

using test::dump;
using test::examplesDir;
using test::hasIssue;
using test::TempDir;

constexpr const char* kAgentFile = "/etc/ovl/agent.yaml";

// The documented example stays valid.
TEST(AgentConfig, ExampleFileIsValid) {
  auto r = loadAgentConfig((examplesDir() / "agent.yaml").string());
  ASSERT_TRUE(r.issues.empty()) << dump(r.issues);
  EXPECT_EQ(r.config.nodeName, "node1");
  EXPECT_EQ(r.config.clusterFile, (examplesDir() / "cluster.yaml").string());
}

TEST(AgentConfig, DefaultsWithOnlyTheRequiredFields) {
  auto r = parseAgentConfig("nodeName: node1\nclusterFile: /etc/ovl/cluster.yaml\n", kAgentFile);
  ASSERT_TRUE(r.issues.empty()) << dump(r.issues);
  const AgentConfig& c = r.config;
  EXPECT_EQ(c.nodeName, "node1");
  EXPECT_EQ(c.datastore, "file");
  EXPECT_EQ(c.clusterFile, "/etc/ovl/cluster.yaml");
  EXPECT_EQ(c.underlayInterface, "");
  EXPECT_EQ(c.vtepName, "");  // "ovl.<vni>" is resolved by the agent
  EXPECT_EQ(c.bridgeName, AgentConfig::kDefaultBridge);
  EXPECT_EQ(c.healthAddress, AgentConfig::kDefaultHealthAddress);
  EXPECT_EQ(c.stateDir, AgentConfig::kDefaultStateDir);
  EXPECT_EQ(c.endpointsDir, "");  // = <stateDir>/endpoints
  EXPECT_EQ(c.resyncSeconds, AgentConfig::kDefaultResyncSeconds);
  EXPECT_EQ(c.logLevel, "info");
  EXPECT_EQ(c.path, kAgentFile);
}

TEST(AgentConfig, EveryFieldIsRead) {
  auto r = parseAgentConfig(R"(nodeName: node-7
datastore: file
clusterFile: /srv/cluster.yaml
underlayInterface: enp1s0
vtepName: vx0
bridgeName: br-pods
healthAddress: 0.0.0.0:8080
stateDir: /var/lib/ovl
endpointsDir: /srv/ovl/endpoints
resyncSeconds: 300
logLevel: debug
)",
                            kAgentFile);
  ASSERT_TRUE(r.issues.empty()) << dump(r.issues);
  const AgentConfig& c = r.config;
  EXPECT_EQ(c.nodeName, "node-7");
  EXPECT_EQ(c.clusterFile, "/srv/cluster.yaml");
  EXPECT_EQ(c.underlayInterface, "enp1s0");
  ASSERT_TRUE(c.marks.contains("underlayInterface"));
  EXPECT_EQ(c.marks.at("underlayInterface").line, 4);
  EXPECT_EQ(c.marks.at("underlayInterface").column, 20);
  EXPECT_EQ(c.vtepName, "vx0");
  EXPECT_EQ(c.bridgeName, "br-pods");
  EXPECT_EQ(c.healthAddress, "0.0.0.0:8080");
  EXPECT_EQ(c.stateDir, "/var/lib/ovl");
  EXPECT_EQ(c.endpointsDir, "/srv/ovl/endpoints");
  EXPECT_EQ(c.resyncSeconds, 300);
  EXPECT_EQ(c.logLevel, "debug");
}

TEST(AgentConfig, EmptyHealthAddressDisablesTheEndpoint) {
  auto r = parseAgentConfig("nodeName: n1\nclusterFile: c.yaml\nhealthAddress: \"\"\n", kAgentFile);
  ASSERT_TRUE(r.issues.empty()) << dump(r.issues);
  EXPECT_EQ(r.config.healthAddress, "");
}

TEST(AgentConfig, NodeNameIsRequired) {
  auto r = parseAgentConfig("clusterFile: c.yaml\n", kAgentFile);
  EXPECT_TRUE(hasIssue(r.issues, "nodeName", 1, {"missing required field 'nodeName'"}));
  r = parseAgentConfig("clusterFile: c.yaml\nnodeName: Node_1\n", kAgentFile);
  EXPECT_TRUE(hasIssue(r.issues, "nodeName", 2, {"invalid node name 'Node_1'"}));
}

TEST(AgentConfig, OnlyTheFileAndEtcdDatastoresAreSupported) {
  auto r = parseAgentConfig("nodeName: n1\ndatastore: consul\n", kAgentFile);
  ASSERT_EQ(r.issues.size(), 1u) << dump(r.issues);  // and no clusterFile complaint
  EXPECT_TRUE(hasIssue(r.issues, "datastore", 2, {"'consul'", "expected file or etcd"}));
}

TEST(AgentConfig, ClusterFileIsRequiredForTheFileDatastore) {
  auto r = parseAgentConfig("nodeName: n1\ndatastore: file\n", kAgentFile);
  EXPECT_TRUE(hasIssue(r.issues, "clusterFile", 1, {"missing required field 'clusterFile'"}));
  r = parseAgentConfig("nodeName: n1\nclusterFile: \"\"\n", kAgentFile);
  EXPECT_TRUE(hasIssue(r.issues, "clusterFile", 2, {"expected a file path, got ''"}));
}

TEST(AgentConfig, RelativeClusterFileIsTakenFromTheAgentFileDirectory) {
  TempDir dir;
  std::string agent = dir.write("etc/agent.yaml", "nodeName: node1\nclusterFile: cluster.yaml\n");
  auto r = loadAgentConfig(agent);
  ASSERT_TRUE(r.issues.empty()) << dump(r.issues);
  EXPECT_EQ(r.config.path, agent);
  EXPECT_EQ(r.config.clusterFile, dir.path() + "/etc/cluster.yaml");

  dir.write("etc/agent.yaml", "nodeName: node1\nclusterFile: ../shared/cluster.yaml\n");
  r = loadAgentConfig(agent);
  ASSERT_TRUE(r.issues.empty()) << dump(r.issues);
  EXPECT_EQ(std::filesystem::path(r.config.clusterFile).lexically_normal().string(),
            dir.path() + "/shared/cluster.yaml");

  dir.write("etc/agent.yaml", "nodeName: node1\nclusterFile: /abs/cluster.yaml\n");
  r = loadAgentConfig(agent);
  ASSERT_TRUE(r.issues.empty()) << dump(r.issues);
  EXPECT_EQ(r.config.clusterFile, "/abs/cluster.yaml");

  // Without a directory in the agent file's path, the path stays relative to the working dir.
  r = parseAgentConfig("nodeName: node1\nclusterFile: cluster.yaml\n", "agent.yaml");
  EXPECT_EQ(r.config.clusterFile, "cluster.yaml");
}

TEST(AgentConfig, InterfaceNamesAreChecked) {
  for (const char* key : {"underlayInterface", "vtepName", "bridgeName"}) {
    for (std::string bad :
         {"0123456789abcdef", "eth/0", "'eth 0'", "'.'", "'..'", "\"\"", "eth0:1"}) {
      auto r = parseAgentConfig(
          std::string("nodeName: n1\nclusterFile: c.yaml\n") + key + ": " + bad + "\n", kAgentFile);
      std::string shown = bad[0] == '\'' || bad[0] == '"' ? bad.substr(1, bad.size() - 2) : bad;
      EXPECT_TRUE(hasIssue(r.issues, key, 3,
                           {"invalid interface name '" + shown + "'", "1..15 characters"}))
          << key << "=" << bad;
    }
    auto r = parseAgentConfig(
        std::string("nodeName: n1\nclusterFile: c.yaml\n") + key + ": 0123456789abcde\n",
        kAgentFile);
    EXPECT_TRUE(r.issues.empty()) << dump(r.issues);
  }
}

TEST(AgentConfig, InterfaceNamesMustDiffer) {
  struct Case {
    const char* text;   // after nodeName and clusterFile (lines 1-2)
    const char* field;  // the one given second
    int line;
    const char* says;
  };
  for (auto c : {
           Case{
               "vtepName: eth0\nunderlayInterface: eth0\n", "underlayInterface", 4,
               "underlayInterface 'eth0' is the same name as vtepName at /etc/ovl/agent.yaml:3:11"},
           Case{"underlayInterface: br0\nbridgeName: br0\n", "bridgeName", 4,
                "bridgeName 'br0' is the same name as underlayInterface at "
                "/etc/ovl/agent.yaml:3:20"},
           Case{"bridgeName: vx0\nlogLevel: info\nvtepName: vx0\n", "vtepName", 5,
                "vtepName 'vx0' is the same name as bridgeName at /etc/ovl/agent.yaml:3:13"},
       }) {
    auto r =
        parseAgentConfig(std::string("nodeName: n1\nclusterFile: c.yaml\n") + c.text, kAgentFile);
    EXPECT_EQ(r.issues.size(), 1u) << c.text << dump(r.issues);
    EXPECT_TRUE(hasIssue(r.issues, c.field, c.line,
                         {c.says,
                          "expected three different names for vtepName, bridgeName and "
                          "underlayInterface"}))
        << c.text;
  }
  // All three the same: the second and the third are each reported against the first.
  auto r = parseAgentConfig(
      "nodeName: n1\nclusterFile: c.yaml\nbridgeName: x0\nvtepName: x0\nunderlayInterface: x0\n",
      kAgentFile);
  EXPECT_EQ(r.issues.size(), 2u) << dump(r.issues);
  EXPECT_TRUE(hasIssue(r.issues, "vtepName", 4, {"same name as bridgeName at"}));
  EXPECT_TRUE(hasIssue(r.issues, "underlayInterface", 5, {"same name as bridgeName at"}));
  // Three different names are fine; the default VTEP name is not compared (it needs the vni).
  r = parseAgentConfig(
      "nodeName: n1\nclusterFile: c.yaml\nbridgeName: br0\nvtepName: vx0\nunderlayInterface: "
      "eth0\n",
      kAgentFile);
  EXPECT_TRUE(r.issues.empty()) << dump(r.issues);
}

TEST(AgentConfig, BridgeAndUnderlayMustNotLookLikeTheDefaultVtepName) {
  for (const char* key : {"bridgeName", "underlayInterface"}) {
    for (const char* bad : {"ovl.1", "ovl.42", "ovl.16777215", "ovl.0"}) {
      auto r = parseAgentConfig(
          std::string("nodeName: n1\nclusterFile: c.yaml\n") + key + ": " + bad + "\n", kAgentFile);
      EXPECT_TRUE(hasIssue(
          r.issues, key, 3,
          {std::string(key) + " '" + bad + "'", "form of the default VTEP name (ovl.<vni>)",
           "collide with the VTEP whenever vtepName is not set",
           "expected a name other than 'ovl.' followed by digits only"}))
          << key << "=" << bad;
    }
    for (const char* good : {"ovl.", "ovl.1a", "ovl.x", "xovl.1", "ovl1", "ovlbr0"}) {
      auto r = parseAgentConfig(
          std::string("nodeName: n1\nclusterFile: c.yaml\n") + key + ": '" + good + "'\n",
          kAgentFile);
      EXPECT_TRUE(r.issues.empty()) << key << "=" << good << dump(r.issues);
    }
  }
  // The VTEP itself may be named so.
  auto r = parseAgentConfig("nodeName: n1\nclusterFile: c.yaml\nvtepName: ovl.7\n", kAgentFile);
  EXPECT_TRUE(r.issues.empty()) << dump(r.issues);
}

TEST(AgentConfig, HealthAddressMustBeIpv4AndPort) {
  for (const char* bad : {"127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "localhost:9765",
                          "127.0.0.1:http", ":9765", "[::1]:9765", "127.0.0.1:-1"}) {
    auto r = parseAgentConfig(
        std::string("nodeName: n1\nclusterFile: c.yaml\nhealthAddress: \"") + bad + "\"\n",
        kAgentFile);
    EXPECT_TRUE(hasIssue(r.issues, "healthAddress", 3,
                         {std::string("invalid address '") + bad + "'", "IP:port", "1..65535"}));
  }
}

TEST(AgentConfig, ResyncSecondsRange) {
  for (const char* bad : {"0", "86401"}) {
    auto r = parseAgentConfig(
        std::string("nodeName: n1\nclusterFile: c.yaml\nresyncSeconds: ") + bad + "\n", kAgentFile);
    EXPECT_TRUE(hasIssue(r.issues, "resyncSeconds", 3,
                         {std::string(bad) + " is out of range", "1..86400"}));
  }
  auto r = parseAgentConfig("nodeName: n1\nclusterFile: c.yaml\nresyncSeconds: 1m\n", kAgentFile);
  EXPECT_TRUE(
      hasIssue(r.issues, "resyncSeconds", 3, {"expected an integer in 1..86400, got '1m'"}));
}

TEST(AgentConfig, LogLevelMustBeKnown) {
  auto r = parseAgentConfig("nodeName: n1\nclusterFile: c.yaml\nlogLevel: verbose\n", kAgentFile);
  EXPECT_TRUE(
      hasIssue(r.issues, "logLevel", 3, {"'verbose'", "one of trace, debug, info, warn, error"}));
}

TEST(AgentConfig, EmptyStateDirIsRejected) {
  auto r = parseAgentConfig("nodeName: n1\nclusterFile: c.yaml\nstateDir: ''\n", kAgentFile);
  EXPECT_TRUE(hasIssue(r.issues, "stateDir", 3, {"expected a directory path"}));
}

TEST(AgentConfig, UnknownFieldsAreReportedWithTheKnownOnes) {
  auto r = parseAgentConfig("nodeName: n1\nclusterFile: c.yaml\nlogLvl: debug\n", kAgentFile);
  EXPECT_TRUE(hasIssue(r.issues, "logLvl", 3,
                       {"unknown field 'logLvl'; known fields are nodeName, datastore, "
                        "clusterFile, underlayInterface, vtepName, bridgeName, healthAddress, "
                        "stateDir, resyncSeconds, logLevel"}));
}

TEST(AgentConfig, SyntaxErrorAndNonMapAreIssues) {
  auto r = parseAgentConfig("nodeName: n1\nclusterFile: [c.yaml\n", kAgentFile);
  ASSERT_EQ(r.issues.size(), 1u) << dump(r.issues);
  EXPECT_NE(r.issues[0].message.find("invalid YAML"), std::string::npos);
  EXPECT_GT(r.issues[0].mark.line, 0);
  r = parseAgentConfig("- nodeName: n1\n", kAgentFile);
  ASSERT_EQ(r.issues.size(), 1u) << dump(r.issues);
  EXPECT_NE(r.issues[0].message.find("expected a map with fields nodeName"), std::string::npos);
}

TEST(AgentConfig, UnreadableFile) {
  TempDir dir;
  std::string missing = dir.path() + "/agent.yaml";
  auto r = loadAgentConfig(missing);
  ASSERT_EQ(r.issues.size(), 1u);
  EXPECT_EQ(r.issues[0].mark.file, missing);
  EXPECT_NE(r.issues[0].message.find(std::strerror(ENOENT)), std::string::npos)
      << r.issues[0].toString();
}

// ---------- the etcd section ----------

TEST(EtcdAgentConfig, ReadsTheEtcdSection) {
  auto r = parseAgentConfig(
      "nodeName: n1\n"
      "datastore: etcd\n"
      "underlayIP: 192.168.50.1\n"
      "etcd:\n"
      "  endpoints: [127.0.0.1:2379, 'https://10.0.0.2:2379']\n"
      "  prefix: /cluster-a\n"
      "  caFile: pki/ca.pem\n"
      "  certFile: /pki/n1.pem\n"
      "  keyFile: /pki/n1-key.pem\n"
      "  leaseTTL: 6\n"
      "  podSubnet: 10.244.7.0/24\n",
      kAgentFile);
  ASSERT_TRUE(r.issues.empty()) << dump(r.issues);
  const AgentConfig& c = r.config;
  EXPECT_EQ(c.datastore, "etcd");
  ASSERT_TRUE(c.underlayIp);
  EXPECT_EQ(c.underlayIp->toString(), "192.168.50.1");
  EXPECT_EQ(c.etcd.endpoints, (std::vector<std::string>{"127.0.0.1:2379", "10.0.0.2:2379"}));
  EXPECT_EQ(c.etcd.prefix, "/cluster-a");
  EXPECT_EQ(c.etcd.caFile, "/etc/ovl/pki/ca.pem");  // relative to agent.yaml
  EXPECT_EQ(c.etcd.certFile, "/pki/n1.pem");
  EXPECT_EQ(c.etcd.leaseTtlSeconds, 6);
  EXPECT_EQ(c.etcd.podSubnet, Ipv4Prefix::parse("10.244.7.0/24"));
}

TEST(EtcdAgentConfig, ExampleFileIsValid) {
  const auto path = std::filesystem::path(OVL_SOURCE_DIR) / "examples/agent-etcd.yaml";
  auto r = loadAgentConfig(path.string());
  ASSERT_TRUE(r.issues.empty()) << dump(r.issues);
  EXPECT_EQ(r.config.datastore, "etcd");
  EXPECT_EQ(r.config.etcd.endpoints.size(), 3u);
  EXPECT_EQ(r.config.etcd.leaseTtlSeconds, 10);
}

TEST(EtcdAgentConfig, DefaultsAndRequiredFields) {
  auto r = parseAgentConfig("nodeName: n1\ndatastore: etcd\n", kAgentFile);
  EXPECT_TRUE(hasIssue(r.issues, "etcd", 1, {"missing required field 'etcd'"}));
  EXPECT_TRUE(hasIssue(r.issues, "underlayIP", 1, {"missing required field 'underlayIP'"}));
  EXPECT_EQ(r.issues.size(), 2u) << dump(r.issues);  // no clusterFile with etcd

  r = parseAgentConfig(
      "nodeName: n1\ndatastore: etcd\nunderlayIP: 10.0.0.1\netcd: {endpoints: [e:2379]}\n",
      kAgentFile);
  ASSERT_TRUE(r.issues.empty()) << dump(r.issues);
  EXPECT_EQ(r.config.etcd.prefix, EtcdConfig::kDefaultPrefix);
  EXPECT_EQ(r.config.etcd.leaseTtlSeconds, EtcdConfig::kDefaultLeaseTtlSeconds);
  EXPECT_FALSE(r.config.etcd.podSubnet);  // any free subnet
}

TEST(EtcdAgentConfig, BadValuesNameTheFieldAndWhatWasExpected) {
  auto r = parseAgentConfig(
      "nodeName: n1\n"
      "datastore: etcd\n"
      "underlayIP: 127.0.0.1\n"
      "etcd:\n"
      "  endpoints: [127.0.0.1, 'h:99999']\n"
      "  prefix: ovl/\n"
      "  certFile: c.pem\n"
      "  leaseTTL: 1\n"
      "  tls: yes\n"
      "  podSubnet: 10.244.7.5/24\n",
      kAgentFile);
  EXPECT_TRUE(hasIssue(r.issues, "underlayIP", 3, {"loopback", "unicast"}));
  EXPECT_TRUE(hasIssue(r.issues, "etcd.endpoints[0]", 5, {"'127.0.0.1'", "host:port"}));
  EXPECT_TRUE(hasIssue(r.issues, "etcd.endpoints[1]", 5, {"'h:99999'"}));
  EXPECT_TRUE(hasIssue(r.issues, "etcd.prefix", 6, {"'ovl/'", "starting with '/'"}));
  EXPECT_TRUE(hasIssue(r.issues, "etcd.leaseTTL", 8, {"2..3600"}));
  EXPECT_TRUE(hasIssue(r.issues, "etcd.tls", 9, {"unknown field 'tls'"}));
  EXPECT_TRUE(hasIssue(r.issues, "etcd.podSubnet", 10, {"10.244.7.5/24", "network address"}));
  EXPECT_TRUE(hasIssue(r.issues, "etcd", 5, {"certFile and keyFile go together"}));
  EXPECT_TRUE(hasIssue(r.issues, "etcd.caFile", 5, {"no caFile"}));
}

TEST(EtcdAgentConfig, EtcdFieldsWithTheFileDatastoreAreReported) {
  auto r = parseAgentConfig(
      "nodeName: n1\nclusterFile: c.yaml\nunderlayIP: 10.0.0.1\netcd: {endpoints: [e:1]}\n",
      kAgentFile);
  EXPECT_TRUE(hasIssue(r.issues, "underlayIP", 3, {"only used with datastore etcd"}));
  EXPECT_TRUE(hasIssue(r.issues, "etcd", 4, {"only used with datastore etcd"}));
}

}  // namespace
}  // namespace ovl
