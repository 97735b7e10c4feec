// diagnostics/host_check: ip_forward off, tx checksum offload on an affected kernel, a nearly
// full conntrack table, and bridge ports without hairpin under br_netfilter.
#include <cstdlib>
#include <string>

#include "tests/netns/diagnostics/diagnostics_fixture.h"

namespace ovl::diag {
namespace {

using test::DiagnosticsTest;
using test::OverlayFs;

TEST_F(DiagnosticsTest, IpForwardOffIsReported) {
  setSysctl("net.ipv4.ip_forward", "0");
  Report r = diagnose();
  const Finding* f = find(r, "ip_forward");
  ASSERT_NE(f, nullptr) << dump(r);
  EXPECT_EQ(f->fixCommand, "sysctl -w net.ipv4.ip_forward=1");
  EXPECT_FALSE(f->fixable);  // host-wide: left to the operator
  EXPECT_EQ(r.exitCode(), 1);
}

TEST_F(DiagnosticsTest, TxChecksumOffloadOnAffectedKernelIsReportedAndTurnedOff) {
  CheckerConfig fixed;
  fixed.kernelRelease = "6.1.0-18-amd64";
  EXPECT_EQ(find(diagnose(fixed), "tx_checksum"), nullptr);

  sh("ip netns exec " + ns() + " ethtool -K ovl.1 tx on");
  CheckerConfig old;
  old.kernelRelease = "5.4.0-150-generic";  // before the fix: the check applies
  auto netlink = nl::Netlink::create();
  ASSERT_TRUE(netlink);
  ProcFs proc;
  Checker c(*netlink, proc, old);
  Report r = c.run(model());
  const Finding* f = find(r, "tx_checksum", "ovl.1");
  ASSERT_NE(f, nullptr) << dump(r);
  EXPECT_TRUE(f->fixable);
  c.fix(r, model());
  EXPECT_TRUE(find(r, "tx_checksum", "ovl.1")->fixed) << dump(r);
  EXPECT_NE(sh("ip netns exec " + ns() + " ethtool -k ovl.1").find("tx-checksumming: off"),
            std::string::npos);
}

TEST_F(DiagnosticsTest, ConntrackAlmostFullIsReported) {
  // nf_conntrack_max is read-only outside the host's own namespace, and filling 262,144
  // entries is no test: the counters are handed in, the rest of the host is real.
  OverlayFs fs;
  fs.fake["sys/net/netfilter/nf_conntrack_count"] = "950";
  fs.fake["sys/net/netfilter/nf_conntrack_max"] = "1000";
  Report r = diagnose({}, &fs);
  const Finding* f = find(r, "conntrack");
  ASSERT_NE(f, nullptr) << dump(r);
  EXPECT_EQ(f->title, "the conntrack table is 95% full");
  EXPECT_EQ(f->fixCommand, "sysctl -w net.netfilter.nf_conntrack_max=2000");
  fs.fake["sys/net/netfilter/nf_conntrack_count"] = "900";
  EXPECT_EQ(find(diagnose({}, &fs), "conntrack"), nullptr);
}

TEST_F(DiagnosticsTest, BridgePortWithoutHairpinUnderBrNetfilterIsReportedAndFixed) {
  if (shStatus("test -e /proc/sys/net/bridge/bridge-nf-call-iptables") != 0) {
    // br_netfilter is not loaded on this host (loading a module would change the host).
    if (std::getenv("CI") != nullptr) {
      FAIL() << "br_netfilter not loaded: the hairpin check cannot be tested (CI is set)";
    }
    GTEST_SKIP() << "br_netfilter not loaded: no bridge-nf-call-iptables";
  }
  setSysctl("net.bridge.bridge-nf-call-iptables", "1");
  sh("ip -n " + ns() + " link add vp1 mtu 1450 type veth peer name pod1");
  sh("ip -n " + ns() + " link set vp1 master ovlbr0");
  Report r = diagnose();
  const Finding* f = find(r, "hairpin", "vp1");
  ASSERT_NE(f, nullptr) << dump(r);
  EXPECT_EQ(f->fixCommand, "bridge link set dev vp1 hairpin on");
  Report fixed = diagnoseAndFix();
  EXPECT_TRUE(find(fixed, "hairpin", "vp1")->fixed) << dump(fixed);
  EXPECT_NE(sh("bridge -n " + ns() + " -d link show dev vp1").find("hairpin on"),
            std::string::npos);
}

}  // namespace
}  // namespace ovl::diag
