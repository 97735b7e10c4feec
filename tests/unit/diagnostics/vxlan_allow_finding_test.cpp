// diagnostics: the VXLAN allow-list in `ovlctl diagnose` (check vxlan_allow): what its rule
// dropped as an info line, an error when the rule is missing, and its sources compared with the
// cluster's nodes like the other sets of ovl's table.
#include <gtest/gtest.h>

#include "diagnostics/finding.h"
#include "diagnostics/nft_inspect.h"

namespace ovl::diag {
namespace {

nat::VxlanAllowPlan allow() {
  Cluster c;
  c.network.port = 4789;
  for (int i = 1; i <= 3; ++i) {
    c.nodes.push_back(Node{"node" + std::to_string(i),
                           *Ipv4::parse("192.168.50." + std::to_string(i)),
                           *Ipv4Prefix::parse("10.244." + std::to_string(i) + ".0/24"),
                           std::nullopt,
                           {}});
  }
  return nat::planVxlanAllow(c);
}

TEST(VxlanAllowFinding, DropsAreAnInfoLineNotAProblem) {
  auto f = vxlanAllowFindings(nat::VxlanDropCounter{12, 1200}, allow(), "ovl");
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].check, "vxlan_allow");
  EXPECT_EQ(f[0].severity, Severity::kInfo);
  EXPECT_EQ(f[0].subject, "table ip ovl chain vxlan_input");
  EXPECT_EQ(f[0].title, "12 VXLAN packets from non-cluster sources dropped");
  ASSERT_EQ(f[0].evidence.size(), 2U);
  EXPECT_EQ(f[0].evidence[0].second, "udp dport 4789 ip saddr != @vxlan_peers counter drop");
  EXPECT_EQ(f[0].evidence[1].second, "12 packets, 1200 bytes");
  Report r;
  r.findings = f;
  EXPECT_EQ(r.problems(), 0U);
  EXPECT_NE(formatHuman(r).find("12 VXLAN packets from non-cluster sources dropped"),
            std::string::npos)
      << formatHuman(r);
  const auto j = toJson(r);
  EXPECT_EQ(j["findings"][0]["check"], "vxlan_allow");
  EXPECT_EQ(j["findings"][0]["severity"], "info");
}

TEST(VxlanAllowFinding, AMissingRuleIsAnError) {
  auto f = vxlanAllowFindings(std::nullopt, allow(), "ovl");
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].severity, Severity::kError);
  EXPECT_EQ(f[0].title, "the VXLAN allow-list is missing: UDP 4789 is accepted from anyone");
}

TEST(VxlanAllowFinding, SourcesAreComparedWithTheNodes) {
  const OwnTable want = desiredOwnTable(nat::NatPlan{}, allow());
  ASSERT_EQ(want.keys.at("vxlan_peers").size(), 3U);
  EXPECT_TRUE(want.keys.at("vxlan_peers").contains("192.168.50.2"));
  OwnTable have = want;
  have.keys["vxlan_peers"].erase("192.168.50.2");
  have.keys["vxlan_peers"].insert("192.168.50.66");
  auto f = compareOwnTable(want, have, "ovl");
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].subject, "table ip ovl set vxlan_peers");
  EXPECT_NE(f[0].explanation.find("VXLAN allow-list"), std::string::npos);
  EXPECT_TRUE(desiredOwnTable(nat::NatPlan{}).keys.at("vxlan_peers").empty());
}

}  // namespace
}  // namespace ovl::diag
