// The node entries of the cluster file (model/node_parser.h): a bad entry is rejected with issues
// naming it, the others are kept; values one node holds are not given to another.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "model/cluster_file.h"
#include "tests/unit/model/config_issues.h"
#include "tests/unit/model/test_inputs.h"

namespace ovl {
namespace {

using test::dump;
using test::hasIssue;
using test::node;
using test::withNodes;

constexpr const char* kFile = "cluster.yaml";

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
    if (shown.size() > kMaxEchoedBytes) {  // a long value is quoted by its first 64 bytes
      shown = shown.substr(0, kMaxEchoedBytes) + "...' (254 bytes)";
    } else {
      shown += "'";
    }
    EXPECT_TRUE(hasIssue(load.issues, "nodes[0].name", 4,
                         {"invalid node name '" + shown, "lower-case letters, digits"}));
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

}  // namespace
}  // namespace ovl
