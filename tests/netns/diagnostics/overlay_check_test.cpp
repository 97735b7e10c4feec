// diagnostics/overlay_check: missing or wrong route, neighbour and FDB entries of peers, and
// MTUs above what the underlay (or the VTEP) carries.
#include <map>
#include <string>

#include "tests/netns/diagnostics/diagnostics_fixture.h"

namespace ovl::diag {
namespace {

using test::DiagnosticsTest;

TEST_F(DiagnosticsTest, MissingOrWrongPeerEntriesAreReported) {
  sh("ip -n " + ns() + " route del 10.244.3.0/24 dev ovl.1");
  sh("ip -n " + ns() +
     " neigh replace 10.244.2.0 lladdr 02:00:00:00:00:99 dev ovl.1 nud permanent");
  const std::string mac3 = MacAddr::fromIdentity("node3").toString();
  sh("bridge -n " + ns() + " fdb del " + mac3 + " dev ovl.1 dst 192.168.50.3 self");
  Report r = diagnose();
  std::map<std::string, std::string> titles;
  for (const auto& f : r.findings) {
    if (f.check == "peer_entries") {
      titles[f.subject + " " + f.title] = f.fixCommand;
    }
  }
  EXPECT_TRUE(titles.contains("peer node3 route entry on ovl.1 is missing")) << dump(r);
  EXPECT_TRUE(titles.contains("peer node2 neighbour entry on ovl.1 is wrong")) << dump(r);
  EXPECT_TRUE(titles.contains("peer node3 FDB entry on ovl.1 is missing")) << dump(r);
  EXPECT_EQ(titles["peer node3 route entry on ovl.1 is missing"],
            "ip route replace 10.244.3.0/24 via 10.244.3.0 dev ovl.1 onlink");
  EXPECT_EQ(r.exitCode(), 1);
}

TEST_F(DiagnosticsTest, MtuAboveUnderlayAndPodMtuAboveVtepAreReported) {
  // The kernel refuses a VXLAN MTU above its lower device's - 50; the underlay's MTU going
  // down later (a new NIC, a VPN) is how it happens.
  sh("ip -n " + ns() + " link set eth0 mtu 1400");
  sh("ip -n " + ns() + " link add vp1 mtu 1500 type veth peer name pod1");
  sh("ip -n " + ns() + " link set vp1 master ovlbr0");
  Report r = diagnose();
  const Finding* vtep = find(r, "mtu", "ovl.1");
  ASSERT_NE(vtep, nullptr) << dump(r);
  EXPECT_EQ(vtep->severity, Severity::kError);
  const Finding* pod = find(r, "mtu", "vp1");
  ASSERT_NE(pod, nullptr) << dump(r);
  EXPECT_EQ(pod->title, "pod interface MTU 1500 is above the VTEP's 1450");
  EXPECT_EQ(vtep->title, "VTEP MTU 1450 is above the underlay's 1400 - 50");
}

}  // namespace
}  // namespace ovl::diag
