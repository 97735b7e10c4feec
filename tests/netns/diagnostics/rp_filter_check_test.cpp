// diagnostics/rp_filter_check: strict rp_filter reported and fixed (and persisted) on exactly
// the interfaces that need it, the paths masquerade removes, and the log_martians note.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include "tests/netns/diagnostics/diagnostics_fixture.h"

namespace ovl::diag {
namespace {

using test::DiagnosticsTest;

TEST_F(DiagnosticsTest, StrictRpFilterIsReportedAndFixedOnExactlyThoseInterfaces) {
  for (const char* i : {"all", "default", "lo", "eth0", "ul0", "ovl/1", "ovlbr0"}) {
    setSysctl(std::string("net.ipv4.conf.") + i + ".rp_filter", "1");
  }
  Report r = diagnose();
  EXPECT_EQ(r.exitCode(), 1) << dump(r);
  const Finding* vtep = find(r, "rp_filter", "ovl.1");
  const Finding* ul = find(r, "rp_filter", "eth0");
  ASSERT_NE(vtep, nullptr) << dump(r);
  ASSERT_NE(ul, nullptr) << dump(r);
  EXPECT_EQ(find(r, "rp_filter", "ovlbr0"), nullptr) << dump(r);
  EXPECT_TRUE(vtep->fixable);
  EXPECT_EQ(vtep->fixCommand, "sysctl -w net.ipv4.conf.ovl/1.rp_filter=2");
  const auto hasEvidence = [](const Finding* f, const std::string& name, const std::string& part) {
    return std::any_of(f->evidence.begin(), f->evidence.end(), [&](const auto& e) {
      return e.first == name && e.second.find(part) != std::string::npos;
    });
  };
  EXPECT_TRUE(hasEvidence(vtep, "rp_filter", "strict (1)")) << dump(r);
  EXPECT_TRUE(hasEvidence(vtep, "kernel answer",
                          "ip route get 10.244.1.2 from 192.168.50.2 iif ovl.1 -> E"))
      << dump(r);
  EXPECT_TRUE(hasEvidence(ul, "path", "reply arriving on node1")) << dump(r);
  EXPECT_TRUE(hasEvidence(ul, "IPReversePathFilter", "packets dropped so far")) << dump(r);
  // log_martians is off: the note says the drops leave no trace.
  EXPECT_NE(find(r, "log_martians"), nullptr) << dump(r);

  const std::string dir = testing::TempDir() + "ovl-sysctl-" + std::to_string(getpid());
  Report fixed = diagnoseAndFix(dir);
  EXPECT_EQ(fixed.exitCode(), 0) << dump(fixed);
  EXPECT_EQ(sysctl("net.ipv4.conf.ovl/1.rp_filter"), "2");
  EXPECT_EQ(sysctl("net.ipv4.conf.eth0.rp_filter"), "2");
  for (const char* i : {"all", "default", "lo", "ul0", "ovlbr0"}) {
    EXPECT_EQ(sysctl(std::string("net.ipv4.conf.") + i + ".rp_filter"), "1") << i;
  }
  std::ifstream in(dir + "/" + kDropInName);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("\nnet.ipv4.conf.eth0.rp_filter = 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nnet.ipv4.conf.ovl/1.rp_filter = 2\n"), std::string::npos) << text;
  std::filesystem::remove_all(dir);
  // The same route query, asked by iproute2, is accepted now.
  EXPECT_EQ(
      shStatus("ip netns exec " + ns() + " ip route get 10.244.1.2 from 192.168.50.2 iif ovl.1"),
      0);
}

TEST_F(DiagnosticsTest, MasqueradeOffClusterHasNoServicePathsToBreak) {
  load("off-cluster");
  for (const char* i : {"all", "eth0", "ovl/1"}) {
    setSysctl(std::string("net.ipv4.conf.") + i + ".rp_filter", "1");
  }
  Report r = diagnose();
  EXPECT_EQ(find(r, "rp_filter"), nullptr) << dump(r);
}

TEST_F(DiagnosticsTest, LogMartiansOnSilencesTheNote) {
  for (const char* i : {"all", "eth0", "ovl/1"}) {
    setSysctl(std::string("net.ipv4.conf.") + i + ".rp_filter", "1");
  }
  ASSERT_NE(find(diagnose(), "log_martians"), nullptr);
  setSysctl("net.ipv4.conf.all.log_martians", "1");
  Report r = diagnose();
  EXPECT_NE(find(r, "rp_filter"), nullptr) << dump(r);
  EXPECT_EQ(find(r, "log_martians"), nullptr) << dump(r);
}

}  // namespace
}  // namespace ovl::diag
