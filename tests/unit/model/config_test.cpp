#include "model/config.h"
#include "tests/unit/model/config_issues.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <string_view>

namespace ovl {
namespace {

using test::dump;
using test::hasIssue;

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ovl-config-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
    }
    path_ = tmpl;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }

  std::string path() const { return path_.string(); }
  std::string write(const std::string& name, const std::string& text) const {
    auto p = path_ / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }

 private:
  std::filesystem::path path_;
};

constexpr const char* kFile = "cluster.yaml";

// Lines 1-2; whatever follows starts at line 3.
std::string network(const std::string& extra) {
  return "network:\n"
         "  podCIDR: 10.244.0.0/16\n" +
         extra;
}

// Lines 1-3; the node entries start at line 4.
std::string withNodes(const std::string& nodes) {
  return network("nodes:\n" + nodes);
}

// One node entry, three lines.
std::string node(const std::string& name, const std::string& ip, const std::string& subnet) {
  return "  - name: " + name + "\n    underlayIP: " + ip + "\n    podSubnet: " + subnet + "\n";
}

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

TEST(ClusterConfig, NetworkDefaults) {
  auto load = parseCluster(network("nodes: []\n"), kFile);
  ASSERT_TRUE(load.issues.empty()) << dump(load.issues);
  EXPECT_FALSE(load.fatal);
  const NetworkConfig& n = load.cluster.network;
  EXPECT_EQ(n.podCidr.toString(), "10.244.0.0/16");
  EXPECT_EQ(n.subnetLength, 24);
  EXPECT_FALSE(n.serviceCidr);
  EXPECT_EQ(n.vni, 1u);
  EXPECT_EQ(n.port, 4789);
  EXPECT_FALSE(n.mtu);
  EXPECT_TRUE(load.cluster.nodes.empty());
}

TEST(ClusterConfig, MtuAutoIsUnset) {
  auto load = parseCluster(network("  mtu: auto\n"), kFile);
  ASSERT_TRUE(load.issues.empty()) << dump(load.issues);
  EXPECT_FALSE(load.cluster.network.mtu);
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
  EXPECT_EQ(load.issues[0].mark.line, 3);  // yaml-cpp says line 2 (0-based)
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

TEST(ClusterConfig, NetworkNotAMapIsFatal) {
  auto load = parseCluster("nodes: []\nnetwork: 10.244.0.0/16\n", kFile);
  EXPECT_TRUE(load.fatal);
  EXPECT_TRUE(
      hasIssue(load.issues, "network", 2, {"'10.244.0.0/16'", "expected a map", "podCIDR"}));
}

TEST(ClusterConfig, MissingPodCidrIsFatal) {
  auto load = parseCluster("network:\n  vni: 1\n", kFile);
  EXPECT_TRUE(load.fatal);
  EXPECT_TRUE(hasIssue(load.issues, "network.podCIDR", 2,
                       {"missing required field 'podCIDR'", "IPv4 CIDR"}));
}

TEST(ClusterConfig, InvalidPodCidrIsFatal) {
  for (const char* bad : {"10.244.0.0", "10.244.0.0/33", "10.244.0/16", "pods", "[1]"}) {
    auto load = parseCluster(std::string("network:\n  podCIDR: ") + bad + "\n", kFile);
    EXPECT_TRUE(load.fatal) << bad;
    std::string shown = bad[0] == '[' ? "a sequence" : std::string("'") + bad + "'";
    EXPECT_TRUE(hasIssue(load.issues, "network.podCIDR", 2,
                         {shown, "expected an IPv4 CIDR such as 10.244.0.0/16"}));
  }
}

TEST(ClusterConfig, PodCidrNotANetworkAddressIsFatal) {
  auto load = parseCluster("network:\n  podCIDR: 10.244.3.0/16\n", kFile);
  EXPECT_TRUE(load.fatal);
  EXPECT_TRUE(hasIssue(load.issues, "network.podCIDR", 2,
                       {"10.244.3.0/16 is not a network address; did you mean 10.244.0.0/16?"}));
}

TEST(ClusterConfig, SubnetLengthOutOfRangeIsFatal) {
  for (const char* bad : {"0", "31", "32"}) {
    auto load = parseCluster(network(std::string("  subnetLength: ") + bad + "\n"), kFile);
    EXPECT_TRUE(load.fatal) << bad;
    EXPECT_TRUE(hasIssue(load.issues, "network.subnetLength", 3, {bad, "1..30"}));
  }
}

TEST(ClusterConfig, SubnetLengthMustBeLongerThanPodCidr) {
  auto load = parseCluster(network("  subnetLength: 16\n"), kFile);
  EXPECT_TRUE(load.fatal);
  EXPECT_TRUE(hasIssue(load.issues, "network.subnetLength", 3,
                       {"subnetLength 16", "10.244.0.0/16", "17..30"}));
}

TEST(ClusterConfig, DefaultSubnetLengthMustBeLongerThanPodCidr) {
  auto load = parseCluster("network:\n  podCIDR: 10.244.0.0/24\n", kFile);
  EXPECT_TRUE(load.fatal);
  EXPECT_TRUE(hasIssue(load.issues, "network.subnetLength", 2,
                       {"subnetLength 24 (the default)", "10.244.0.0/24", "25..30"}));
}

TEST(ClusterConfig, PodCidrTooSmallToSplit) {
  auto load = parseCluster("network:\n  podCIDR: 10.244.0.0/30\n", kFile);
  EXPECT_TRUE(load.fatal);
  EXPECT_TRUE(hasIssue(load.issues, "network.podCIDR", 2, {"10.244.0.0/30", "at most /29"}));
}

TEST(ClusterConfig, ServiceCidrOverlappingPodCidrIsFatal) {
  auto load = parseCluster(network("  serviceCIDR: 10.0.0.0/8\n"), kFile);
  EXPECT_TRUE(load.fatal);
  EXPECT_TRUE(hasIssue(load.issues, "network.serviceCIDR", 3,
                       {"serviceCIDR 10.0.0.0/8 overlaps podCIDR 10.244.0.0/16", "disjoint"}));
}

TEST(ClusterConfig, InvalidServiceCidrIsFatal) {
  auto load = parseCluster(network("  serviceCIDR: 10.96.0.0/40\n"), kFile);
  EXPECT_TRUE(load.fatal);
  EXPECT_TRUE(hasIssue(load.issues, "network.serviceCIDR", 3,
                       {"'10.96.0.0/40'", "expected an IPv4 CIDR such as 10.96.0.0/12"}));
  load = parseCluster(network("  serviceCIDR: 10.96.0.1/12\n"), kFile);
  EXPECT_TRUE(load.fatal);
  EXPECT_TRUE(hasIssue(load.issues, "network.serviceCIDR", 3, {"did you mean 10.96.0.0/12?"}));
}

TEST(ClusterConfig, VniOutOfRangeIsFatal) {
  for (const char* bad : {"0", "16777216", "99999999999999999999999"}) {
    auto load = parseCluster(network(std::string("  vni: ") + bad + "\n"), kFile);
    EXPECT_TRUE(load.fatal) << bad;
    EXPECT_TRUE(hasIssue(load.issues, "network.vni", 3,
                         {std::string(bad) + " is out of range", "1..16777215"}));
  }
  auto load = parseCluster(network("  vni: 16777215\n"), kFile);
  EXPECT_TRUE(load.issues.empty()) << dump(load.issues);
  EXPECT_EQ(load.cluster.network.vni, 16777215u);
}

TEST(ClusterConfig, NonIntegerVniIsATypeError) {
  struct Case {
    const char* yaml;
    const char* shown;
  };
  for (auto c :
       {Case{"abc", "'abc'"}, Case{"1.5", "'1.5'"}, Case{"[1]", "a sequence"},
        Case{"{a: 1}", "a map"}, Case{"12abc", "'12abc'"}, Case{"-1", "'-1'"}, Case{"+1", "'+1'"},
        Case{"0x10", "'0x10'"}, Case{"1e3", "'1e3'"}, Case{"\"\"", "''"}}) {
    ClusterLoad load;
    ASSERT_NO_THROW(load = parseCluster(network(std::string("  vni: ") + c.yaml + "\n"), kFile))
        << c.yaml;
    EXPECT_TRUE(load.fatal) << c.yaml;
    EXPECT_TRUE(hasIssue(load.issues, "network.vni", 3,
                         {std::string("expected an integer in 1..16777215, got ") + c.shown}));
  }
}

TEST(ClusterConfig, PortOutOfRangeIsFatal) {
  for (const char* bad : {"0", "65536"}) {
    auto load = parseCluster(network(std::string("  port: ") + bad + "\n"), kFile);
    EXPECT_TRUE(load.fatal) << bad;
    EXPECT_TRUE(hasIssue(load.issues, "network.port", 3, {bad, "1..65535"}));
  }
  auto load = parseCluster(network("  port: http\n"), kFile);
  EXPECT_TRUE(hasIssue(load.issues, "network.port", 3, {"'http'", "1..65535"}));
}

TEST(ClusterConfig, InvalidMtuIsFatal) {
  for (const char* bad : {"575", "65536", "big", "[1500]", "1500.0"}) {
    auto load = parseCluster(network(std::string("  mtu: ") + bad + "\n"), kFile);
    EXPECT_TRUE(load.fatal) << bad;
    std::string shown = bad[0] == '[' ? "a sequence" : bad;
    EXPECT_TRUE(hasIssue(load.issues, "network.mtu", 3, {shown, "576..65535"}));
  }
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

TEST(ClusterConfig, UnknownNetworkFieldIsFatal) {
  auto load = parseCluster("network:\n  podCIDR: 10.244.0.0/16\n  vxlanPort: 8472\n", kFile);
  EXPECT_TRUE(load.fatal);
  EXPECT_TRUE(hasIssue(
      load.issues, "network.vxlanPort", 3,
      {"unknown field 'vxlanPort'; known fields are podCIDR, subnetLength, serviceCIDR, vni, "
       "port, mtu, masquerade"}));
}

TEST(ClusterConfig, FieldGivenTwiceIsFatal) {
  auto load = parseCluster(network("  vni: 1\n  vni: 2\n"), kFile);
  EXPECT_TRUE(load.fatal);
  EXPECT_TRUE(hasIssue(load.issues, "network.vni", 4,
                       {"'vni' is given twice; the first is at cluster.yaml:3:3"}));
}

// ---------- node issues: that node is rejected, the rest kept ----------

// Parses a valid network with `nodes`; expects no fatal issue and returns the load.
ClusterLoad parseNodes(const std::string& nodes) {
  auto load = parseCluster(withNodes(nodes), kFile);
  EXPECT_FALSE(load.fatal) << dump(load.issues);
  return load;
}

TEST(ClusterConfig, NodeWithoutNameIsRejected) {
  auto load = parseNodes("  - underlayIP: 192.168.50.1\n    podSubnet: 10.244.1.0/24\n");
  EXPECT_TRUE(load.cluster.nodes.empty());
  EXPECT_TRUE(hasIssue(load.issues, "nodes[0].name", 4, {"missing required field 'name'"}));
  load = parseNodes(node("", "192.168.50.1", "10.244.1.0/24"));  // `name:` with no value
  EXPECT_TRUE(load.cluster.nodes.empty());
  EXPECT_TRUE(hasIssue(load.issues, "nodes[0].name", 4, {"missing required field 'name'"}));
}

TEST(ClusterConfig, NodeWithInvalidNameIsRejected) {
  for (const std::string& bad : std::vector<std::string>{
           "Node1", "node_1", "-node1", "node1-", "node1.", "'node 1'", std::string(254, 'a')}) {
    auto load = parseNodes(node(bad, "192.168.50.1", "10.244.1.0/24"));
    EXPECT_TRUE(load.cluster.nodes.empty()) << bad;
    std::string shown = bad[0] == '\'' ? bad.substr(1, bad.size() - 2) : bad;
    EXPECT_TRUE(hasIssue(load.issues, "nodes[0].name", 4,
                         {"invalid node name '" + shown + "'", "lower-case letters, digits"}));
  }
  auto load = parseNodes(node(std::string(253, 'a'), "192.168.50.1", "10.244.1.0/24"));
  EXPECT_EQ(load.cluster.nodes.size(), 1u) << dump(load.issues);
}

TEST(ClusterConfig, NodeWithoutUnderlayIpIsRejected) {
  auto load = parseNodes("  - name: node1\n    podSubnet: 10.244.1.0/24\n");
  EXPECT_TRUE(load.cluster.nodes.empty());
  EXPECT_TRUE(hasIssue(load.issues, "nodes[0].underlayIP", 4,
                       {"missing required field 'underlayIP'", "IPv4 address"}));
}

TEST(ClusterConfig, NodeWithInvalidUnderlayIpIsRejected) {
  for (const char* bad : {"192.168.50", "192.168.50.256", "192.168.50.1/24", "host1"}) {
    auto load = parseNodes(node("node1", bad, "10.244.1.0/24"));
    EXPECT_TRUE(load.cluster.nodes.empty()) << bad;
    EXPECT_TRUE(hasIssue(load.issues, "nodes[0].underlayIP", 5,
                         {std::string("'") + bad + "' is not an IPv4 address", "192.168.50.1"}));
  }
}

TEST(ClusterConfig, NodeWithoutPodSubnetIsRejected) {
  auto load = parseNodes("  - name: node1\n    underlayIP: 192.168.50.1\n");
  EXPECT_TRUE(load.cluster.nodes.empty());
  EXPECT_TRUE(hasIssue(load.issues, "nodes[0].podSubnet", 4,
                       {"missing required field 'podSubnet'", "IPv4 CIDR"}));
}

TEST(ClusterConfig, NodeWithInvalidPodSubnetIsRejected) {
  auto load = parseNodes(node("node1", "192.168.50.1", "10.244.1.0"));
  EXPECT_TRUE(load.cluster.nodes.empty());
  EXPECT_TRUE(hasIssue(load.issues, "nodes[0].podSubnet", 6,
                       {"'10.244.1.0' is not an IPv4 CIDR", "10.244.1.0/24"}));
}

TEST(ClusterConfig, PodSubnetNotANetworkAddressIsRejected) {
  auto load = parseNodes(node("node1", "192.168.50.1", "10.244.1.5/24"));
  EXPECT_TRUE(load.cluster.nodes.empty());
  EXPECT_TRUE(hasIssue(load.issues, "nodes[0].podSubnet", 6,
                       {"10.244.1.5/24 is not a network address; did you mean 10.244.1.0/24?"}));
}

TEST(ClusterConfig, PodSubnetOfTheWrongLengthIsRejected) {
  auto load = parseNodes(node("node1", "192.168.50.1", "10.244.1.0/25"));
  EXPECT_TRUE(load.cluster.nodes.empty());
  EXPECT_TRUE(hasIssue(load.issues, "nodes[0].podSubnet", 6,
                       {"10.244.1.0/25", "expected /24", "subnetLength"}));
}

TEST(ClusterConfig, PodSubnetOutsidePodCidrIsRejected) {
  auto load = parseNodes(node("node1", "192.168.50.1", "10.245.1.0/24"));
  EXPECT_TRUE(load.cluster.nodes.empty());
  EXPECT_TRUE(hasIssue(load.issues, "nodes[0].podSubnet", 6,
                       {"podSubnet 10.245.1.0/24 is outside podCIDR 10.244.0.0/16"}));
}

TEST(ClusterConfig, DuplicateNodeNameRejectsTheLaterEntry) {
  auto load = parseNodes(node("node1", "192.168.50.1", "10.244.1.0/24") +
                         node("node1", "192.168.50.2", "10.244.2.0/24"));
  ASSERT_EQ(load.cluster.nodes.size(), 1u);
  EXPECT_EQ(load.cluster.nodes[0].underlayIp.toString(), "192.168.50.1");
  EXPECT_TRUE(hasIssue(load.issues, "nodes[1].name", 7,
                       {"node name 'node1' is already used by the entry at cluster.yaml:4:5"}));
}

TEST(ClusterConfig, DuplicateUnderlayIpRejectsTheLaterEntry) {
  auto load = parseNodes(node("node1", "192.168.50.1", "10.244.1.0/24") +
                         node("node2", "192.168.50.1", "10.244.2.0/24"));
  ASSERT_EQ(load.cluster.nodes.size(), 1u);
  EXPECT_EQ(load.cluster.nodes[0].name, "node1");
  EXPECT_TRUE(
      hasIssue(load.issues, "nodes[1].underlayIP", 8,
               {"underlay IP 192.168.50.1 is already used by node 'node1' at cluster.yaml:4:5"}));
}

TEST(ClusterConfig, OverlappingPodSubnetsRejectTheLaterEntry) {
  auto load = parseNodes(node("node1", "192.168.50.1", "10.244.1.0/24") +
                         node("node2", "192.168.50.2", "10.244.1.0/24"));
  ASSERT_EQ(load.cluster.nodes.size(), 1u);
  EXPECT_EQ(load.cluster.nodes[0].name, "node1");
  EXPECT_TRUE(hasIssue(load.issues, "nodes[1].podSubnet", 9,
                       {"podSubnet 10.244.1.0/24 overlaps podSubnet 10.244.1.0/24 of node "
                        "'node1' at cluster.yaml:4:5"}));
}

// How many issues name `field`.
size_t issueCount(const std::vector<ConfigIssue>& issues, const std::string& field) {
  return static_cast<size_t>(std::count_if(issues.begin(), issues.end(),
                                           [&](const ConfigIssue& i) { return i.field == field; }));
}

TEST(ClusterConfig, DuplicateVtepMacRejectsTheLaterEntry) {
  // Both given.
  auto load = parseNodes(
      node("node1", "192.168.50.1", "10.244.1.0/24") + "    vtepMAC: 0a:58:0a:f4:01:01\n" +
      node("node2", "192.168.50.2", "10.244.2.0/24") + "    vtepMAC: 0a:58:0a:f4:01:01\n");
  ASSERT_EQ(load.cluster.nodes.size(), 1u) << dump(load.issues);
  EXPECT_EQ(load.cluster.nodes[0].name, "node1");
  EXPECT_EQ(load.issues.size(), 1u) << dump(load.issues);
  EXPECT_TRUE(hasIssue(load.issues, "nodes[1].vtepMAC", 11,
                       {"VTEP MAC 0a:58:0a:f4:01:01 is already used by node 'node1' at "
                        "cluster.yaml:4:5; each node needs its own"}));

  // The one given equals the one an earlier node derives from its name.
  const std::string derived1 = MacAddr::fromIdentity("node1").toString();
  load = parseNodes(node("node1", "192.168.50.1", "10.244.1.0/24") +
                    node("node2", "192.168.50.2", "10.244.2.0/24") + "    vtepMAC: " + derived1 +
                    "\n");
  ASSERT_EQ(load.cluster.nodes.size(), 1u) << dump(load.issues);
  EXPECT_EQ(load.cluster.nodes[0].name, "node1");
  EXPECT_TRUE(hasIssue(load.issues, "nodes[1].vtepMAC", 10,
                       {"VTEP MAC " + derived1 + " is already used by node 'node1' at " +
                        "cluster.yaml:4:5; each node needs its own"}));

  // The one derived from the name equals one an earlier node gives: reported at the name.
  const std::string derived2 = MacAddr::fromIdentity("node2").toString();
  load = parseNodes(node("node1", "192.168.50.1", "10.244.1.0/24") + "    vtepMAC: " + derived2 +
                    "\n" + node("node2", "192.168.50.2", "10.244.2.0/24"));
  ASSERT_EQ(load.cluster.nodes.size(), 1u) << dump(load.issues);
  EXPECT_EQ(load.cluster.nodes[0].name, "node1");
  EXPECT_TRUE(
      hasIssue(load.issues, "nodes[1].vtepMAC", 8,
               {"VTEP MAC " + derived2 + " (derived from the name 'node2'",
                "already used by node 'node1' at cluster.yaml:4:5", "each node needs its own"}));

  // The first entry keeps its MAC even when it is rejected for something else.
  load = parseNodes(
      node("node1", "192.168.50.1", "10.245.1.0/24") + "    vtepMAC: 0a:58:0a:f4:01:01\n" +
      node("node2", "192.168.50.2", "10.244.2.0/24") + "    vtepMAC: 0a:58:0a:f4:01:01\n");
  EXPECT_TRUE(load.cluster.nodes.empty()) << dump(load.issues);
  EXPECT_TRUE(hasIssue(load.issues, "nodes[1].vtepMAC", 11, {"already used by node 'node1'"}));

  // A duplicate name is reported once, not again as a duplicate derived MAC.
  load = parseNodes(node("node1", "192.168.50.1", "10.244.1.0/24") +
                    node("node1", "192.168.50.2", "10.244.2.0/24"));
  EXPECT_EQ(load.issues.size(), 1u) << dump(load.issues);
  EXPECT_EQ(issueCount(load.issues, "nodes[1].vtepMAC"), 0u) << dump(load.issues);

  // Different MACs, given or derived, are fine.
  load = parseNodes(node("node1", "192.168.50.1", "10.244.1.0/24") +
                    node("node2", "192.168.50.2", "10.244.2.0/24") +
                    "    vtepMAC: 0a:58:0a:f4:02:01\n" +
                    node("node3", "192.168.50.3", "10.244.3.0/24"));
  EXPECT_EQ(load.cluster.nodes.size(), 3u) << dump(load.issues);
}

TEST(ClusterConfig, UnusableUnderlayIpIsRejected) {
  struct Case {
    const char* ip;
    const char* says;
  };
  for (auto c : {Case{"0.0.0.0", "in 0.0.0.0/8"}, Case{"0.255.255.255", "in 0.0.0.0/8"},
                 Case{"127.0.0.1", "a loopback address (127.0.0.0/8)"},
                 Case{"127.255.255.254", "a loopback address (127.0.0.0/8)"},
                 Case{"169.254.0.1", "a link-local address (169.254.0.0/16)"},
                 Case{"224.0.0.1", "a multicast address (224.0.0.0/4)"},
                 Case{"239.255.255.250", "a multicast address (224.0.0.0/4)"},
                 Case{"240.0.0.1", "a reserved address (240.0.0.0/4)"},
                 Case{"255.255.255.255", "the broadcast address (255.255.255.255, in 240.0.0.0/4)"},
                 Case{"10.244.0.1", "inside network.podCIDR 10.244.0.0/16"},
                 Case{"10.244.255.255", "inside network.podCIDR 10.244.0.0/16"}}) {
    auto load = parseNodes(node("node1", c.ip, "10.244.1.0/24"));
    EXPECT_TRUE(load.cluster.nodes.empty()) << c.ip;
    EXPECT_TRUE(hasIssue(load.issues, "nodes[0].underlayIP", 5,
                         {std::string("underlay IP ") + c.ip + " is " + c.says,
                          "a node's underlay IP carries VXLAN packets; it must be a unicast "
                          "address outside the pod and service networks"}))
        << c.ip;
  }
  // The neighbours of those ranges are fine.
  for (const char* good : {"1.0.0.0", "126.255.255.255", "128.0.0.1", "169.253.255.255",
                           "169.255.0.1", "223.255.255.254", "10.243.255.255", "10.245.0.0"}) {
    auto load = parseNodes(node("node1", good, "10.244.1.0/24"));
    EXPECT_EQ(load.cluster.nodes.size(), 1u) << good << dump(load.issues);
  }
  // An unusable IP claims nothing: a second node with it gets the same issue, not "already used".
  auto load = parseNodes(node("node1", "127.0.0.1", "10.244.1.0/24") +
                         node("node2", "127.0.0.1", "10.244.2.0/24"));
  EXPECT_TRUE(hasIssue(load.issues, "nodes[1].underlayIP", 8, {"a loopback address"}));

  // Inside the service network, when there is a valid one.
  const std::string withServiceCidr =
      "network:\n  podCIDR: 10.244.0.0/16\n  serviceCIDR: 10.96.0.0/12\nnodes:\n";
  load = parseCluster(withServiceCidr + node("node1", "10.100.0.1", "10.244.1.0/24") +
                          node("node2", "10.112.0.1", "10.244.2.0/24"),
                      kFile);
  EXPECT_FALSE(load.fatal) << dump(load.issues);
  ASSERT_EQ(load.cluster.nodes.size(), 1u) << dump(load.issues);
  EXPECT_EQ(load.cluster.nodes[0].name, "node2");
  EXPECT_TRUE(hasIssue(load.issues, "nodes[0].underlayIP", 6,
                       {"underlay IP 10.100.0.1 is inside network.serviceCIDR 10.96.0.0/12",
                        "outside the pod and service networks"}));
  // An invalid serviceCIDR is reported on its own; nodes are not checked against it.
  load = parseCluster("network:\n  podCIDR: 10.244.0.0/16\n  serviceCIDR: 10.96.0.1/12\nnodes:\n" +
                          node("node1", "10.100.0.1", "10.244.1.0/24"),
                      kFile);
  EXPECT_TRUE(load.fatal);
  EXPECT_EQ(load.cluster.nodes.size(), 1u) << dump(load.issues);
  EXPECT_EQ(issueCount(load.issues, "nodes[0].underlayIP"), 0u) << dump(load.issues);
}

TEST(ClusterConfig, InvalidVtepMacIsRejected) {
  struct Case {
    const char* mac;
    const char* says;
  };
  for (auto c : {Case{"0a:58:0a:f4:01", "is not a MAC address"},
                 Case{"0a-58-0a-f4-01-01", "is not a MAC address"},
                 Case{"01:00:5e:00:00:01", "is a multicast MAC"},
                 Case{"00:00:00:00:00:00", "is the all-zero MAC"}}) {
    auto load =
        parseNodes(node("node1", "192.168.50.1", "10.244.1.0/24") + "    vtepMAC: " + c.mac + "\n");
    EXPECT_TRUE(load.cluster.nodes.empty()) << c.mac;
    EXPECT_TRUE(hasIssue(load.issues, "nodes[0].vtepMAC", 7,
                         {c.mac, c.says, "expected a unicast MAC address"}));
  }
}

TEST(ClusterConfig, UnknownNodeFieldIsRejected) {
  auto load =
      parseNodes(node("node1", "192.168.50.1", "10.244.1.0/24") + "    underlayIp: 10.0.0.1\n");
  EXPECT_TRUE(load.cluster.nodes.empty());
  EXPECT_TRUE(hasIssue(
      load.issues, "nodes[0].underlayIp", 7,
      {"unknown field 'underlayIp'; known fields are name, underlayIP, podSubnet, vtepMAC"}));
}

TEST(ClusterConfig, NodeEntryNotAMapIsRejected) {
  auto load = parseNodes("  - node1\n" + node("node2", "192.168.50.2", "10.244.2.0/24"));
  ASSERT_EQ(load.cluster.nodes.size(), 1u);
  EXPECT_EQ(load.cluster.nodes[0].name, "node2");
  EXPECT_TRUE(hasIssue(load.issues, "nodes[0]", 4, {"'node1'", "expected a map with fields"}));
}

TEST(ClusterConfig, EveryProblemOfANodeIsReported) {
  auto load = parseNodes(node("Node1", "192.168.50", "10.244.1.5/24"));
  EXPECT_TRUE(load.cluster.nodes.empty());
  EXPECT_EQ(load.issues.size(), 3u) << dump(load.issues);
  EXPECT_TRUE(hasIssue(load.issues, "nodes[0].name", 4, {"Node1"}));
  EXPECT_TRUE(hasIssue(load.issues, "nodes[0].underlayIP", 5, {"192.168.50"}));
  EXPECT_TRUE(hasIssue(load.issues, "nodes[0].podSubnet", 6, {"10.244.1.5/24"}));
}

TEST(ClusterConfig, OneBadNodeAmongTwoGoodOnesKeepsTheGoodOnes) {
  auto load = parseNodes(node("node1", "192.168.50.1", "10.244.1.0/24") +
                         node("node2", "192.168.50.2", "10.245.2.0/24") +
                         node("node3", "192.168.50.3", "10.244.3.0/24"));
  EXPECT_FALSE(load.fatal);
  ASSERT_EQ(load.cluster.nodes.size(), 2u);
  EXPECT_EQ(load.cluster.nodes[0].name, "node1");
  EXPECT_EQ(load.cluster.nodes[1].name, "node3");
  EXPECT_EQ(load.cluster.nodes[1].mark.line, 10);
  ASSERT_EQ(load.issues.size(), 1u) << dump(load.issues);
  EXPECT_EQ(load.issues[0].field, "nodes[1].podSubnet");
}

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

// The documented examples in examples/ stay valid.
std::filesystem::path examplesDir() {
  return std::filesystem::path(OVL_SOURCE_DIR) / "examples";
}

TEST(ClusterConfig, ExampleFileIsValid) {
  auto load = loadClusterFile((examplesDir() / "cluster.yaml").string());
  ASSERT_TRUE(load.issues.empty()) << dump(load.issues);
  EXPECT_EQ(load.cluster.network.podCidr.toString(), "10.244.0.0/16");
  EXPECT_EQ(load.cluster.nodes.size(), 3u);
  EXPECT_EQ(load.cluster.network.serviceCidr, Ipv4Prefix::parse("10.96.0.0/12"));
  EXPECT_EQ(load.cluster.services.size(), 3u);  // checked in detail in service_config_test.cpp
}

TEST(AgentConfig, ExampleFileIsValid) {
  auto r = loadAgentConfig((examplesDir() / "agent.yaml").string());
  ASSERT_TRUE(r.issues.empty()) << dump(r.issues);
  EXPECT_EQ(r.config.nodeName, "node1");
  EXPECT_EQ(r.config.clusterFile, (examplesDir() / "cluster.yaml").string());
}

TEST(ClusterConfig, DeepNestingIsAnIssueNotACrash) {
  auto load = parseCluster("network: " + std::string(100000, '['), kFile);
  EXPECT_TRUE(load.fatal);
  ASSERT_EQ(load.issues.size(), 1u) << dump(load.issues);
  EXPECT_NE(load.issues[0].message.find("nested too deeply"), std::string::npos)
      << load.issues[0].toString();
}

TEST(ClusterConfig, NonScalarKeysAreIssues) {
  auto load = parseCluster(network("  ? [vni]\n  : 1\n"), kFile);
  EXPECT_TRUE(load.fatal);
  EXPECT_TRUE(hasIssue(load.issues, "network", 3, {"expected field names", "a sequence"}));
}

TEST(ConfigIssue, ToStringNamesFileLineColumnAndField) {
  ConfigIssue issue{SourceMark{"cluster.yaml", 12, 5}, "nodes[2].podSubnet", "is wrong"};
  EXPECT_EQ(issue.toString(), "cluster.yaml:12:5: nodes[2].podSubnet: is wrong");
  EXPECT_EQ((ConfigIssue{SourceMark{"a.yaml"}, "", "cannot read"}).toString(),
            "a.yaml: cannot read");
  EXPECT_EQ((SourceMark{"x.yaml", 3, 1}).toString(), "x.yaml:3:1");
  EXPECT_EQ((SourceMark{"x.yaml"}).toString(), "x.yaml");
}

// ---------- agent.yaml ----------

constexpr const char* kAgentFile = "/etc/ovl/agent.yaml";

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

}  // namespace
}  // namespace ovl
