// The VXLAN allow-list (rules/vxlan_allow.h): the planner (the cluster's nodes as allowed
// sources), the chain and its rule as expressions, and how the desired index and NatState
// carry the sources: only what changed is marked for the table to write.
#include "rules/vxlan_allow.h"

#include <gtest/gtest.h>
#include <linux/netfilter.h>

#include <algorithm>

#include "rules/desired_index.h"
#include "rules/nat_state.h"
#include "tests/unit/rules/nft_render.h"

namespace ovl::nat {
namespace {

Ipv4 ip(const char* text) {
  return *Ipv4::parse(text);
}

Node node(const std::string& name, const char* underlay, const char* subnet) {
  return Node{name, ip(underlay), *Ipv4Prefix::parse(subnet), std::nullopt, {}};
}

Cluster cluster(std::vector<Node> nodes, uint16_t port = 4789) {
  Cluster c;
  c.network.podCidr = *Ipv4Prefix::parse("10.244.0.0/16");
  c.network.port = port;
  c.nodes = std::move(nodes);
  return c;
}

const size_t kPeers = static_cast<size_t>(nft::SetId::kVxlanPeers);

std::vector<std::string> peerKeys(const nft::DesiredIndex& d) {
  std::vector<std::string> out;
  for (const auto& [key, elem] : d.elems(kPeers)) {
    out.push_back(Ipv4{key.w[0]}.toString() + " " + elem.comment);
  }
  return out;
}

TEST(VxlanAllowPlan, EveryNodeOnceByAddressWithItsNameOnThePort) {
  const Cluster c = cluster({node("node3", "192.168.50.3", "10.244.3.0/24"),
                             node("node1", "192.168.50.1", "10.244.1.0/24"),
                             node("node2", "192.168.50.20", "10.244.2.0/24")},
                            8472);
  const VxlanAllowPlan p = planVxlanAllow(c);
  EXPECT_EQ(p.port, 8472);
  ASSERT_EQ(p.sources.size(), 3u);
  EXPECT_EQ(p.sources[0], (VxlanSource{ip("192.168.50.1"), "node1"}));
  EXPECT_EQ(p.sources[1], (VxlanSource{ip("192.168.50.3"), "node3"}));
  EXPECT_EQ(p.sources[2], (VxlanSource{ip("192.168.50.20"), "node2"}));
}

TEST(VxlanAllowPlan, NodesSharingAnAddressAreOneSourceNamingBoth) {
  const VxlanAllowPlan p = planVxlanAllow(cluster(
      {node("b", "192.168.50.9", "10.244.1.0/24"), node("a", "192.168.50.9", "10.244.2.0/24")}));
  ASSERT_EQ(p.sources.size(), 1u);
  EXPECT_EQ(p.sources[0].comment, "a, b");
  EXPECT_TRUE(planVxlanAllow(cluster({})).sources.empty());
}

TEST(VxlanAllowPlan, LongNamesAreClippedToWhatNftKeeps) {
  std::vector<Node> nodes;
  for (int i = 0; i < 20; ++i) {
    nodes.push_back(
        node("a-rather-long-node-name-" + std::to_string(i), "192.168.50.9", "10.244.1.0/24"));
  }
  const VxlanAllowPlan p = planVxlanAllow(cluster(nodes));
  ASSERT_EQ(p.sources.size(), 1u);
  EXPECT_EQ(p.sources[0].comment.size(), kMaxComment);
}

TEST(VxlanAllowChain, InputHookBeforeMangleAndFilterPolicyAccept) {
  const nft::ChainSpec c = vxlanChainSpec(4789);
  EXPECT_EQ(c.name, "vxlan_input");
  ASSERT_TRUE(c.base);
  EXPECT_EQ(c.base->hook, static_cast<uint32_t>(NF_INET_LOCAL_IN));
  EXPECT_EQ(c.base->type, "filter");
  EXPECT_LT(c.base->priority, -150);  // before iptables' mangle and every filter table
  EXPECT_EQ(c.base->policy, static_cast<uint32_t>(NF_ACCEPT));
  ASSERT_EQ(c.rules.size(), 1u);
  EXPECT_EQ(nft::testing::commentName(c.rules[0]), "ovl: vxlan allow-list udp dport 4789");
}

TEST(VxlanAllowChain, UdpToThePortFromOutsideTheSetIsCountedAndDropped) {
  // meta l4proto 17; th dport 4789 (0x12b5: bytes 12 b5, printed as the host-order 0xb512);
  // ip saddr (offset 12) not in vxlan_peers (flags 0x1: inverted); counter; drop.
  const std::string want =
      "[ meta load l4proto => reg 8 ]\n"
      "[ cmp eq reg 8 0x00000011 ]\n"
      "[ payload load 2b @ transport header + 2 => reg 8 ]\n"
      "[ cmp eq reg 8 0x0000b512 ]\n"
      "[ payload load 4b @ network header + 12 => reg 8 ]\n"
      "[ lookup reg 8 set vxlan_peers 0x1 ]\n"
      "[ counter pkts 0 bytes 0 ]\n"
      "[ immediate reg 0 drop ]\n";
  EXPECT_EQ(nft::testing::render(vxlanChainSpec(4789).rules[0]), want);
}

TEST(VxlanAllowChain, AnotherPortIsAnotherRule) {
  const nft::RuleSpec a = vxlanChainSpec(4789).rules[0];
  const nft::RuleSpec b = vxlanChainSpec(8472).rules[0];
  EXPECT_NE(a.comment, b.comment);  // the chain is refilled when network.port changes
  EXPECT_NE(nft::testing::render(b).find("cmp eq reg 8 0x00001821"), std::string::npos)
      << nft::testing::render(b);
}

TEST(VxlanAllowIndex, NoAllowListNoChainAndAnEmptySet) {
  nft::DesiredIndex d;
  EXPECT_EQ(nft::testing::findChain(d.chains(), "vxlan_input"), nullptr);
  EXPECT_TRUE(d.elems(kPeers).empty());
}

TEST(VxlanAllowIndex, TheChainComesLastAndFollowsThePort) {
  nft::DesiredIndex d;
  d.setVxlanAllow(planVxlanAllow(cluster({node("n1", "192.168.50.1", "10.244.1.0/24")})));
  ASSERT_FALSE(d.chains().empty());
  EXPECT_EQ(d.chains().back().name, "vxlan_input");
  d.clearDirty();
  d.setVxlanAllow(planVxlanAllow(cluster({node("n1", "192.168.50.1", "10.244.1.0/24")}, 4790)));
  EXPECT_EQ(nft::testing::commentName(d.chains().back().rules[0]),
            "ovl: vxlan allow-list udp dport 4790");
  EXPECT_TRUE(d.dirty(kPeers).empty()) << "a port change leaves the sources alone";
}

TEST(VxlanAllowIndex, ANodeAddedOrRemovedTouchesOnlyItsKey) {
  nft::DesiredIndex d;
  std::vector<Node> nodes = {node("n1", "192.168.50.1", "10.244.1.0/24"),
                             node("n2", "192.168.50.2", "10.244.2.0/24")};
  d.setVxlanAllow(planVxlanAllow(cluster(nodes)));
  EXPECT_EQ(peerKeys(d), (std::vector<std::string>{"192.168.50.1 n1", "192.168.50.2 n2"}));
  d.clearDirty();

  nodes.push_back(node("n3", "192.168.50.3", "10.244.3.0/24"));
  d.setVxlanAllow(planVxlanAllow(cluster(nodes)));
  ASSERT_EQ(d.dirty(kPeers).size(), 1u);
  EXPECT_EQ(Ipv4{d.dirty(kPeers)[0].w[0]}, ip("192.168.50.3"));
  d.clearDirty();

  nodes.erase(nodes.begin());
  d.setVxlanAllow(planVxlanAllow(cluster(nodes)));
  ASSERT_EQ(d.dirty(kPeers).size(), 1u);
  EXPECT_EQ(Ipv4{d.dirty(kPeers)[0].w[0]}, ip("192.168.50.1"));
  EXPECT_EQ(peerKeys(d), (std::vector<std::string>{"192.168.50.2 n2", "192.168.50.3 n3"}));
  d.clearDirty();

  // A node renamed on the same address: its element is replaced (the comment differs).
  nodes[0].name = "n2b";
  d.setVxlanAllow(planVxlanAllow(cluster(nodes)));
  EXPECT_EQ(peerKeys(d), (std::vector<std::string>{"192.168.50.2 n2b", "192.168.50.3 n3"}));
  d.clearDirty();
  d.setVxlanAllow(planVxlanAllow(cluster(nodes)));
  EXPECT_TRUE(d.dirty(kPeers).empty()) << "the same list again changes nothing";
}

TEST(VxlanAllowIndex, ServicesAndSourcesDoNotShareElements) {
  nft::DesiredIndex d;
  d.setVxlanAllow(planVxlanAllow(cluster({node("n1", "192.168.50.1", "10.244.1.0/24")})));
  NatPlan p;
  p.hairpin = {ip("192.168.50.1")};
  d.add(p);
  d.remove(p);
  EXPECT_EQ(peerKeys(d), (std::vector<std::string>{"192.168.50.1 n1"}));
}

TEST(VxlanAllowState, NewPlanInputsKeepTheSources) {
  NatState st;
  st.setVxlanAllow(planVxlanAllow(cluster({node("n1", "192.168.50.1", "10.244.1.0/24")})));
  PlanInputs in;
  in.selfNode = "n1";
  in.podCidr = *Ipv4Prefix::parse("10.244.0.0/16");
  in.masquerade = svc::MasqueradeMode::kAll;
  st.setInputs(in);  // a new index
  EXPECT_EQ(peerKeys(st.desired()), (std::vector<std::string>{"192.168.50.1 n1"}));
  EXPECT_EQ(st.desired().chains().back().name, "vxlan_input");
}

}  // namespace
}  // namespace ovl::nat
