// diagnostics/nftables_check: the VXLAN port or pod traffic dropped by another nftables table,
// iptables-nft or iptables-legacy, and ovl's own table missing or out of step.
#include "tests/netns/diagnostics/diagnostics_fixture.h"

namespace ovl::diag {
namespace {

using test::DiagnosticsTest;

TEST_F(DiagnosticsTest, VxlanPortDroppedByAnotherTableOrIptablesIsReported) {
  nft("add table inet fw");
  nft("'add chain inet fw input { type filter hook input priority 0; policy accept; }'");
  nft("add rule inet fw input udp dport 4789 counter drop");
  Report r = diagnose();
  const Finding* f = find(r, "vxlan_port", "table inet fw chain input");
  ASSERT_NE(f, nullptr) << dump(r);
  EXPECT_EQ(f->severity, Severity::kError);
  nft("delete table inet fw");

  // Policy drop with no accept for the port.
  nft("add table ip guard");
  nft("'add chain ip guard in { type filter hook input priority 0; policy drop; }'");
  nft("add rule ip guard in tcp dport 22 accept");
  r = diagnose();
  f = find(r, "vxlan_port", "table ip guard chain in");
  ASSERT_NE(f, nullptr) << dump(r);
  EXPECT_NE(f->title.find("policy drop"), std::string::npos);
  nft("insert rule ip guard in udp dport 4789 accept");
  EXPECT_EQ(find(diagnose(), "vxlan_port", "table ip guard chain in"), nullptr);
  nft("delete table ip guard");

  // iptables-nft writes nftables rules: seen.
  sh("ip netns exec " + ns() + " iptables-nft -A INPUT -p udp --dport 4789 -j DROP");
  r = diagnose();
  f = find(r, "vxlan_port", "table ip filter chain INPUT");
  ASSERT_NE(f, nullptr) << dump(r);
  sh("ip netns exec " + ns() + " iptables-nft -F INPUT");

  // iptables-legacy is invisible to nftables: read through libip4tc.
  sh("ip netns exec " + ns() + " iptables-legacy -A INPUT -p udp --dport 4789 -j DROP");
  r = diagnose();
  f = find(r, "vxlan_port", "iptables-legacy table filter chain INPUT");
  ASSERT_NE(f, nullptr) << dump(r);
  EXPECT_EQ(f->severity, Severity::kError);
  EXPECT_EQ(f->fixCommand, "iptables-legacy -t filter -I INPUT -p udp --dport 4789 -j ACCEPT");
  sh("ip netns exec " + ns() + " iptables-legacy -F INPUT");
  EXPECT_EQ(find(diagnose(), "vxlan_port"), nullptr);
  sh("ip netns exec " + ns() + " iptables-legacy -P FORWARD DROP");
  sh("ip netns exec " + ns() + " iptables-legacy -A FORWARD -p tcp --dport 22 -j ACCEPT");
  r = diagnose();
  f = find(r, "forward_drop", "iptables-legacy table filter chain FORWARD");
  ASSERT_NE(f, nullptr) << dump(r);
  sh("ip netns exec " + ns() + " iptables-legacy -I FORWARD -s 10.244.0.0/16 -j ACCEPT");
  EXPECT_EQ(find(diagnose(), "forward_drop"), nullptr) << dump(diagnose());
  sh("ip netns exec " + ns() + " iptables-legacy -P FORWARD ACCEPT");
}

TEST_F(DiagnosticsTest, ForwardChainDroppingPodTrafficIsReported) {
  nft("add table ip filter2");
  nft("'add chain ip filter2 forwarding { type filter hook forward priority 0; policy drop; }'");
  Report r = diagnose();
  const Finding* f = find(r, "forward_drop", "table ip filter2 chain forwarding");
  ASSERT_NE(f, nullptr) << dump(r);
  EXPECT_NE(f->title.find("policy drop"), std::string::npos);
  nft("add rule ip filter2 forwarding ip saddr 10.244.0.0/16 accept");
  EXPECT_EQ(find(diagnose(), "forward_drop"), nullptr);
  nft("flush chain ip filter2 forwarding");
  nft("'add chain ip filter2 forwarding { policy accept; }'");
  nft("add rule ip filter2 forwarding ip daddr 10.244.2.0/24 drop");
  r = diagnose();
  f = find(r, "forward_drop", "table ip filter2 chain forwarding");
  ASSERT_NE(f, nullptr) << dump(r);
  EXPECT_EQ(f->title, "a FORWARD rule drops pod traffic");
}

TEST_F(DiagnosticsTest, OwnTableMissingOrOutOfStepIsReported) {
  EXPECT_EQ(find(diagnose(), "nft_table"), nullptr);
  nft("delete element ip ovl services '{ 10.96.0.10 . tcp . 80 }'");
  Report r = diagnose();
  const Finding* f = find(r, "nft_table", "table ip ovl set services");
  ASSERT_NE(f, nullptr) << dump(r);
  EXPECT_EQ(f->title, "out of step with the datastore: 1 element(s) missing, 0 extra");
  EXPECT_EQ(r.exitCode(), 1);

  nft("delete table ip ovl");
  r = diagnose();
  f = find(r, "nft_table", "table ip ovl");
  ASSERT_NE(f, nullptr) << dump(r);
  EXPECT_EQ(f->title, "ovl's nftables table is missing");
}

TEST_F(DiagnosticsTest, VxlanAllowListDropsAndAbsenceAreReported) {
  // A datagram to the VXLAN port from an address of this node that is not a node's underlay
  // address: the rule drops and counts it.
  sh("ip -n " + ns() + " addr add 192.168.60.7/32 dev lo");
  sh("ip netns exec " + ns() +
     " python3 -c \"import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
     "s.bind(('192.168.60.7', 0)); [s.sendto(b'x', ('192.168.50.1', 4789)) for _ in range(2)]\"");
  Report r = diagnose();
  const Finding* f = find(r, "vxlan_allow", "table ip ovl chain vxlan_input");
  ASSERT_NE(f, nullptr) << dump(r);
  EXPECT_EQ(f->severity, Severity::kInfo);
  EXPECT_EQ(f->title, "2 VXLAN packets from non-cluster sources dropped");
  EXPECT_EQ(r.exitCode(), 0) << dump(r);

  nft("delete chain ip ovl vxlan_input");
  r = diagnose();
  f = find(r, "vxlan_allow", "table ip ovl chain vxlan_input");
  ASSERT_NE(f, nullptr) << dump(r);
  EXPECT_EQ(f->severity, Severity::kError);
  EXPECT_EQ(r.exitCode(), 1);

  nft("delete element ip ovl vxlan_peers '{ 192.168.50.2 }'");
  r = diagnose();
  ASSERT_NE(find(r, "nft_table", "table ip ovl set vxlan_peers"), nullptr) << dump(r);
}

}  // namespace
}  // namespace ovl::diag
