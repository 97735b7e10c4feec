// The cluster file as a whole (model/cluster_file.h): reading it, fatal problems of its top level,
// the order of issues, and documents that must never throw. The network section, the nodes and the
// services are tested beside their parsers.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "model/cluster_file.h"
#include "tests/unit/model/config_issues.h"
#include "tests/unit/model/test_inputs.h"

namespace ovl {
namespace {

using test::dump;
using test::examplesDir;
using test::hasIssue;
using test::network;
using test::node;
using test::TempDir;
using test::withNodes;

constexpr const char* kFile = "cluster.yaml";

// ---------- the valid cases ----------

TEST(ClusterConfig, ValidFileParsesIntoTheExpectedCluster) {
  auto load = parseCluster(R"(network:
  podCIDR: 10.244.0.0/16
  subnetLength: 24
  serviceCIDR: 10.96.0.0/12
  vni: 42
  port: 8472
  mtu: 1450
nodes:
  - name: node1
    underlayIP: 192.168.50.1
    podSubnet: 10.244.1.0/24
  - name: node-2.example
    underlayIP: 192.168.50.2
    podSubnet: 10.244.2.0/24
    vtepMAC: 0a:58:0a:f4:02:01
)",
                           kFile);
  ASSERT_TRUE(load.issues.empty()) << dump(load.issues);
  EXPECT_FALSE(load.fatal);

  NetworkConfig want;
  want.podCidr = *Ipv4Prefix::parse("10.244.0.0/16");
  want.subnetLength = 24;
  want.serviceCidr = *Ipv4Prefix::parse("10.96.0.0/12");
  want.vni = 42;
  want.port = 8472;
  want.mtu = 1450;
  EXPECT_EQ(load.cluster.network, want);

  ASSERT_EQ(load.cluster.nodes.size(), 2u);
  const Node& n1 = load.cluster.nodes[0];
  EXPECT_EQ(n1, (Node{"node1",
                      *Ipv4::parse("192.168.50.1"),
                      *Ipv4Prefix::parse("10.244.1.0/24"),
                      std::nullopt,
                      {}}));
  EXPECT_EQ(n1.mark.toString(), "cluster.yaml:9:5");
  EXPECT_EQ(n1.effectiveVtepMac(), MacAddr::fromIdentity("node1"));
  const Node& n2 = load.cluster.nodes[1];
  EXPECT_EQ(n2, (Node{"node-2.example",
                      *Ipv4::parse("192.168.50.2"),
                      *Ipv4Prefix::parse("10.244.2.0/24"),
                      MacAddr::parse("0a:58:0a:f4:02:01"),
                      {}}));
  EXPECT_EQ(n2.mark.toString(), "cluster.yaml:12:5");
  EXPECT_TRUE(load.cluster.services.empty());
}

TEST(ClusterConfig, NoNodesIsValid) {
  for (const char* nodes : {"", "nodes:\n", "nodes: []\n"}) {
    auto load = parseCluster(network(nodes), kFile);
    EXPECT_TRUE(load.issues.empty()) << nodes << dump(load.issues);
    EXPECT_FALSE(load.fatal) << nodes;
    EXPECT_TRUE(load.cluster.nodes.empty()) << nodes;
  }
}

TEST(ClusterConfig, LoadsFromAFile) {
  TempDir dir;
  std::string path =
      dir.write("cluster.yaml", withNodes(node("node1", "192.168.50.1", "10.244.1.0/24")));
  auto load = loadClusterFile(path);
  ASSERT_TRUE(load.issues.empty()) << dump(load.issues);
  ASSERT_EQ(load.cluster.nodes.size(), 1u);
  EXPECT_EQ(load.cluster.nodes[0].mark.toString(), path + ":4:5");
}

// ---------- fatal issues ----------

TEST(ClusterConfig, YamlSyntaxErrorIsFatalWithOneBasedPosition) {
  auto load = parseCluster(network("  vni: b: c\n"), kFile);
  EXPECT_TRUE(load.fatal);
  ASSERT_EQ(load.issues.size(), 1u) << dump(load.issues);
  EXPECT_EQ(load.issues[0].mark.line, 3);  // the parser says line 2 (0-based)
  EXPECT_EQ(load.issues[0].mark.column, 9);
  EXPECT_NE(load.issues[0].message.find("invalid YAML"), std::string::npos);
  EXPECT_EQ(load.issues[0].toString().rfind("cluster.yaml:3:9: invalid YAML: ", 0), 0u)
      << load.issues[0].toString();
}

TEST(ClusterConfig, UnreadableFileIsFatal) {
  TempDir dir;
  std::string missing = dir.path() + "/missing.yaml";
  auto load = loadClusterFile(missing);
  EXPECT_TRUE(load.fatal);
  ASSERT_EQ(load.issues.size(), 1u);
  EXPECT_EQ(load.issues[0].mark.file, missing);
  EXPECT_EQ(load.issues[0].mark.line, 0);
  EXPECT_NE(load.issues[0].message.find(std::strerror(ENOENT)), std::string::npos)
      << load.issues[0].toString();
  EXPECT_EQ(load.issues[0].toString().rfind(missing + ": ", 0), 0u);

  auto dirLoad = loadClusterFile(dir.path());  // a directory opens, but cannot be read
  EXPECT_TRUE(dirLoad.fatal);
  ASSERT_EQ(dirLoad.issues.size(), 1u);
  EXPECT_NE(dirLoad.issues[0].message.find(std::strerror(EISDIR)), std::string::npos)
      << dirLoad.issues[0].toString();
}

TEST(ClusterConfig, TopLevelNotAMapIsFatal) {
  for (const char* text : {"", "just text\n", "- network\n"}) {
    auto load = parseCluster(text, kFile);
    EXPECT_TRUE(load.fatal) << text;
    ASSERT_EQ(load.issues.size(), 1u) << text << dump(load.issues);
    EXPECT_NE(load.issues[0].message.find("expected a map with fields network, nodes"),
              std::string::npos)
        << load.issues[0].toString();
  }
}

TEST(ClusterConfig, MissingNetworkIsFatal) {
  auto load = parseCluster("nodes: []\n", kFile);
  EXPECT_TRUE(load.fatal);
  EXPECT_TRUE(hasIssue(load.issues, "network", 1, {"missing required field 'network'"}));
}

TEST(ClusterConfig, NodesNotASequenceIsFatal) {
  auto load = parseCluster(network("nodes:\n  name: node1\n"), kFile);
  EXPECT_TRUE(load.fatal);
  EXPECT_TRUE(hasIssue(load.issues, "nodes", 4, {"a map", "expected a sequence of node entries"}));
}

TEST(ClusterConfig, UnknownTopLevelFieldIsFatal) {
  auto load = parseCluster(network("node:\n  - name: node1\n"), kFile);
  EXPECT_TRUE(load.fatal);
  EXPECT_TRUE(hasIssue(load.issues, "node", 3,
                       {"unknown field 'node'; known fields are network, nodes, services"}));
}

// ---------- the file as a whole ----------

TEST(ClusterConfig, NodesAreStillCheckedWhenTheNetworkIsInvalid) {
  auto load = parseCluster("network:\n  podCIDR: bad\nnodes:\n" +
                               node("node1", "192.168.50.1", "10.244.1.0/24") +
                               node("node1", "192.168.50.2", "10.244.2.0/24"),
                           kFile);
  EXPECT_TRUE(load.fatal);
  EXPECT_TRUE(hasIssue(load.issues, "network.podCIDR", 2, {"'bad'"}));
  EXPECT_TRUE(hasIssue(load.issues, "nodes[1].name", 7, {"already used"}));
}

TEST(ClusterConfig, OddDocumentsNeverThrow) {
  for (const char* text :
       {"network: &n\n  podCIDR: 10.244.0.0/16\nnodes:\n  - *n\n",
        "network:\n  podCIDR: !!binary aGVsbG8=\n", "network:\n  ? [a, b]\n  : 1\n",
        "network:\n  podCIDR: 10.244.0.0/16\nnodes: [[], {}, ~, 1, {name: [x]}]\n",
        "network:\n  podCIDR: 10.244.0.0/16\n  vni: !!float 1.5\n", "---\n...\n", "{{{{",
        "network: {podCIDR: {a: b}, subnetLength: {}, mtu: ~}\n",
        "network:\n  podCIDR: 10.244.0.0/16\n  <<: {vni: 3}\n"}) {
    ClusterLoad load;
    EXPECT_NO_THROW(load = parseCluster(text, kFile)) << text;
    EXPECT_FALSE(load.issues.empty()) << text;
    for (const auto& i : load.issues) {
      EXPECT_FALSE(i.message.empty()) << text;
    }
  }
}

TEST(ClusterConfig, IssuesAreInFileOrder) {
  auto load = parseCluster("nodes:\n" + node("node1", "192.168.50.1", "10.244.1.5/24") +
                               "    extra: 1\nnetwork:\n  podCIDR: 10.244.0.0/16\n  vni: 0\n",
                           kFile);
  ASSERT_EQ(load.issues.size(), 3u) << dump(load.issues);
  EXPECT_EQ(load.issues[0].field, "nodes[0].podSubnet");
  EXPECT_EQ(load.issues[1].field, "nodes[0].extra");
  EXPECT_EQ(load.issues[2].field, "network.vni");
}

// The documented example stays valid.
TEST(ClusterConfig, ExampleFileIsValid) {
  auto load = loadClusterFile((examplesDir() / "cluster.yaml").string());
  ASSERT_TRUE(load.issues.empty()) << dump(load.issues);
  EXPECT_EQ(load.cluster.network.podCidr.toString(), "10.244.0.0/16");
  EXPECT_EQ(load.cluster.nodes.size(), 3u);
  EXPECT_EQ(load.cluster.network.serviceCidr, Ipv4Prefix::parse("10.96.0.0/12"));
  EXPECT_EQ(load.cluster.services.size(), 3u);  // checked in detail in service_parser_test.cpp
}

TEST(ClusterConfig, DeepNestingIsAnIssueNotACrash) {
  auto load = parseCluster("network: " + std::string(100000, '['), kFile);
  EXPECT_TRUE(load.fatal);
  ASSERT_EQ(load.issues.size(), 1u) << dump(load.issues);
  EXPECT_NE(load.issues[0].message.find("nested too deeply"), std::string::npos)
      << load.issues[0].toString();
}

}  // namespace
}  // namespace ovl
