// The network section of the cluster file (model/network_parser.h): defaults, and every problem,
// each fatal.
#include <gtest/gtest.h>

#include <string>

#include "model/cluster_file.h"
#include "tests/unit/model/config_issues.h"
#include "tests/unit/model/test_inputs.h"

namespace ovl {
namespace {

using test::dump;
using test::hasIssue;
using test::network;

constexpr const char* kFile = "cluster.yaml";

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

TEST(ClusterConfig, NonScalarKeysAreIssues) {
  auto load = parseCluster(network("  ? [vni]\n  : 1\n"), kFile);
  EXPECT_TRUE(load.fatal);
  EXPECT_TRUE(hasIssue(load.issues, "network", 3, {"expected field names", "a sequence"}));
}

}  // namespace
}  // namespace ovl
