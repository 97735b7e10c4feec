// The etcd datastore's pure parts (datastore/etcd_keys.h): the key layout, the node record and
// the subnet choice.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "datastore/etcd_keys.h"
#include "model/cluster.h"

namespace ovl {
namespace {

TEST(EtcdKeys, LayoutAndKinds) {
  EtcdKeys k{"/ovl"};
  auto subnet = *Ipv4Prefix::parse("10.244.7.0/24");
  EXPECT_EQ(k.subnet(subnet), "/ovl/subnets/10.244.7.0-24");
  EXPECT_EQ(k.subnetOf("/ovl/subnets/10.244.7.0-24"), subnet);
  EXPECT_FALSE(k.subnetOf("/ovl/subnets/10.244.7.1-24"));  // not a network address
  EXPECT_FALSE(k.subnetOf("/ovl/subnets/garbage"));
  EXPECT_EQ(k.kindOf("/ovl/config"), EtcdKeys::Kind::kConfig);
  EXPECT_EQ(k.kindOf("/ovl/nodes/n1"), EtcdKeys::Kind::kNode);
  EXPECT_EQ(k.kindOf("/ovl/nodes/"), EtcdKeys::Kind::kOther);
  EXPECT_EQ(k.kindOf("/ovl/services/default/web"), EtcdKeys::Kind::kService);
  EXPECT_EQ(k.kindOf("/ovl/configx"), EtcdKeys::Kind::kOther);
  EXPECT_EQ(k.kindOf("/ovlx/nodes/n1"), EtcdKeys::Kind::kOther);
}

TEST(EtcdKeys, NodeRecordCarriesReadiness) {
  const std::string rec = encodeNodeRecord("n1", *Ipv4::parse("192.168.50.1"),
                                           *Ipv4Prefix::parse("10.244.1.0/24"), true);
  EXPECT_EQ(
      rec, R"({"name":"n1","underlayIP":"192.168.50.1","podSubnet":"10.244.1.0/24","ready":true})");
  EXPECT_TRUE(nodeRecordReady(rec));
  EXPECT_FALSE(nodeRecordReady("{\"ready\":\"yes\"}"));
  EXPECT_FALSE(nodeRecordReady("{{{"));
}

NetworkConfig network(const char* cidr, uint8_t len) {
  NetworkConfig n;
  n.podCidr = *Ipv4Prefix::parse(cidr);
  n.subnetLength = len;
  return n;
}

TEST(ChooseSubnet, PreferredFirstThenFreeFromTheSeed) {
  const auto net = network("10.244.0.0/16", 24);
  EXPECT_EQ(subnetCount(net), 256u);
  std::set<Ipv4Prefix> taken{*Ipv4Prefix::parse("10.244.5.0/24")};
  auto preferred = Ipv4Prefix::parse("10.244.9.0/24");
  EXPECT_EQ(chooseSubnet(net, taken, preferred, 3), preferred);
  // Preferred but taken, outside the pod CIDR, or of another length: the scan decides.
  EXPECT_EQ(chooseSubnet(net, taken, Ipv4Prefix::parse("10.244.5.0/24"), 5)->toString(),
            "10.244.6.0/24");
  EXPECT_EQ(chooseSubnet(net, taken, Ipv4Prefix::parse("10.245.9.0/24"), 3)->toString(),
            "10.244.3.0/24");
  EXPECT_EQ(chooseSubnet(net, taken, Ipv4Prefix::parse("10.244.9.0/25"), 3)->toString(),
            "10.244.3.0/24");
  // The scan wraps around.
  EXPECT_EQ(chooseSubnet(net, taken, std::nullopt, 255 + 256 * 7)->toString(), "10.244.255.0/24");
}

TEST(ChooseSubnet, ExhaustedPoolGivesNothing) {
  const auto net = network("10.250.0.0/29", 30);
  ASSERT_EQ(subnetCount(net), 2u);
  std::set<Ipv4Prefix> taken{*Ipv4Prefix::parse("10.250.0.0/30")};
  EXPECT_EQ(chooseSubnet(net, taken, std::nullopt, 0)->toString(), "10.250.0.4/30");
  taken.insert(*Ipv4Prefix::parse("10.250.0.4/30"));
  EXPECT_FALSE(chooseSubnet(net, taken, std::nullopt, 0));
}

// Attack 4: this node's own record overwritten in etcd. What the agent compares with what it
// knows of itself before writing the record back (its readiness is not part of it).
TEST(NodeRecordDrift, ThisNodesRecordAsWrittenHasNone) {
  const Ipv4 ip = *Ipv4::parse("192.168.50.1");
  const Ipv4Prefix subnet = *Ipv4Prefix::parse("10.244.1.0/24");
  EXPECT_EQ(
      nodeRecordDrift(encodeNodeRecord("node1", ip, subnet, true), 0x42, "node1", ip, subnet, 0x42),
      "");
  EXPECT_EQ(nodeRecordDrift(encodeNodeRecord("node1", ip, subnet, false), 0x42, "node1", ip, subnet,
                            0x42),
            "");
}

TEST(NodeRecordDrift, OverwrittenRecordIsDescribed) {
  const Ipv4 ip = *Ipv4::parse("192.168.50.1");
  const Ipv4Prefix subnet = *Ipv4Prefix::parse("10.244.1.0/24");
  const std::string evil = encodeNodeRecord("node1", *Ipv4::parse("10.9.9.9"),
                                            *Ipv4Prefix::parse("10.244.77.0/24"), true);
  EXPECT_EQ(nodeRecordDrift(evil, 0x42, "node1", ip, subnet, 0x42),
            "underlayIP 10.9.9.9 (this node's: 192.168.50.1), podSubnet 10.244.77.0/24 (this "
            "node's: 10.244.1.0/24)");
  // The same values on another lease (or none): the record would expire with someone else's.
  EXPECT_EQ(
      nodeRecordDrift(encodeNodeRecord("node1", ip, subnet, true), 0, "node1", ip, subnet, 0x42),
      "bound to lease 0 (this node's: 42)");
  EXPECT_EQ(nodeRecordDrift("{{{", 0x42, "node1", ip, subnet, 0x42).substr(0, 20),
            "not a JSON object (t");
  EXPECT_EQ(nodeRecordDrift(R"({"name":"node1","underlayIP":7})", 0x42, "node1", ip, subnet, 0x42),
            "underlayIP 7 (this node's: 192.168.50.1), podSubnet (none) (this node's: "
            "10.244.1.0/24)");
  // A long value is quoted in part only.
  const std::string longName(5000, 'x');
  EXPECT_LT(
      nodeRecordDrift(R"({"name":")" + longName + R"("})", 0x42, "node1", ip, subnet, 0x42).size(),
      300u);
}

TEST(SubnetClaimDrift, NamesTheOtherNodeAndLease) {
  EXPECT_EQ(subnetClaimDrift("node1", 0x42, "node1", 0x42), "");
  EXPECT_EQ(subnetClaimDrift("evil", 0x66, "node1", 0x42),
            "names node 'evil' (this node: 'node1'), bound to lease 66 (this node's: 42)");
}

}  // namespace
}  // namespace ovl
