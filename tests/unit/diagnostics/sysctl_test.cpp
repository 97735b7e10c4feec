// diagnostics/sysctl: sysctl key naming, the effective rp_filter, the drop-in, the netstat
// counter, and the sysctl.d directives that re-apply a setting.
#include "diagnostics/sysctl.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ovl::diag {
namespace {

TEST(SysctlKeys, DotsInInterfaceNamesAreWrittenAsSlashes) {
  EXPECT_EQ(confKey("ovl.1", "rp_filter"), "net.ipv4.conf.ovl/1.rp_filter");
  EXPECT_EQ(confKey("eth0", "rp_filter"), "net.ipv4.conf.eth0.rp_filter");
  EXPECT_EQ(confKey("enp3s0.200", "log_martians"), "net.ipv4.conf.enp3s0/200.log_martians");
  EXPECT_EQ(confPath("ovl.1", "rp_filter"), "sys/net/ipv4/conf/ovl.1/rp_filter");
}

TEST(SysctlKeys, EffectiveRpFilterIsTheMaximumAndSaysWhereItComesFrom) {
  EXPECT_EQ((RpFilter{1, 0}).effective(), 1);
  EXPECT_EQ((RpFilter{1, 2}).effective(), 2);
  EXPECT_EQ((RpFilter{0, 0}).effective(), 0);
  EXPECT_EQ((RpFilter{1, 0}).describe("ovl.1"),
            "strict (1): conf/all=1, conf/ovl.1=0; the higher applies, set by conf/all");
  EXPECT_EQ((RpFilter{0, 2}).describe("eth0"),
            "loose (2): conf/all=0, conf/eth0=2; the higher applies, set by conf/eth0");
}

TEST(SysctlKeys, DropInListsEachInterfaceOnceAndReadsBack) {
  const std::string text = dropInText({"ovl.1", "eth0", "ovl.1"});
  EXPECT_NE(text.find("\nnet.ipv4.conf.eth0.rp_filter = 2\nnet.ipv4.conf.ovl/1.rp_filter = 2\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(dropInInterfaces(text), (std::vector<std::string>{"eth0", "ovl.1"}));
  EXPECT_EQ(dropInInterfaces("# x\nnet.ipv4.ip_forward = 1\nkernel.x=1\n"),
            std::vector<std::string>{});
  // Sorts after systemd's 50-default.conf and Debian's 99-sysctl.conf.
  EXPECT_GT(std::string(kDropInName), "50-default.conf");
  EXPECT_GT(std::string(kDropInName), "99-sysctl.conf");
}

TEST(SysctlKeys, NetstatCounterReadsTheNamedColumn) {
  const std::string netstat =
      "TcpExt: SyncookiesSent IPReversePathFilter TW\n"
      "TcpExt: 0 17 3\n"
      "IpExt: InNoRoutes\n"
      "IpExt: 5\n";
  EXPECT_EQ(netstatCounter(netstat, "TcpExt", "IPReversePathFilter"), 17);
  EXPECT_EQ(netstatCounter(netstat, "IpExt", "InNoRoutes"), 5);
  EXPECT_EQ(netstatCounter(netstat, "TcpExt", "Nope"), std::nullopt);
}

TEST(SysctlDirectives, GlobsAllDefaultAndSlashedNamesMatch) {
  const std::string text =
      "# systemd 50-default.conf\n"
      "net.ipv4.conf.default.rp_filter = 2\n"
      "net.ipv4.conf.*.rp_filter = 2\n"
      "-net.ipv4.conf.all.rp_filter\n"
      "net.ipv4.conf.all.rp_filter = 1\n"
      "net.ipv4.conf.eth*.rp_filter = 1\n"
      "net.ipv4.conf.ovl/1.rp_filter = 2\n"
      "net/ipv4/conf/ovl.1/rp_filter = 2\n"
      "net.ipv4.conf.ovl/1.log_martians = 1\n";
  std::vector<std::string> lines;
  for (const auto& d : sysctlDirectives(text, "f.conf", "ovl.1", "rp_filter")) {
    lines.push_back(d.toString());
  }
  EXPECT_EQ(lines, (std::vector<std::string>{"f.conf:2: net.ipv4.conf.default.rp_filter = 2",
                                             "f.conf:3: net.ipv4.conf.*.rp_filter = 2",
                                             "f.conf:5: net.ipv4.conf.all.rp_filter = 1",
                                             "f.conf:7: net.ipv4.conf.ovl/1.rp_filter = 2",
                                             "f.conf:8: net/ipv4/conf/ovl.1/rp_filter = 2"}));
  EXPECT_EQ(sysctlDirectives(text, "f.conf", "eth0", "rp_filter").size(), 4U);
}

}  // namespace
}  // namespace ovl::diag
