// diagnostics/checker: a healthy node, every check run, nothing reported.
#include <algorithm>

#include "tests/netns/diagnostics/diagnostics_fixture.h"

namespace ovl::diag {
namespace {

using test::DiagnosticsTest;

TEST_F(DiagnosticsTest, HealthyNodeHasNoProblems) {
  Report r = diagnose();
  EXPECT_EQ(r.problems(), 0U) << dump(r);
  EXPECT_EQ(r.exitCode(), 0) << dump(r);
  bool allowLine = false;
  for (const Finding& f : r.findings) {
    allowLine = allowLine || (f.check == "vxlan_allow" && f.severity == Severity::kInfo &&
                              f.title == "0 VXLAN packets from non-cluster sources dropped");
  }
  EXPECT_TRUE(allowLine) << dump(r);
  for (const char* check : {"ip_forward", "rp_filter", "peer_entries", "mtu", "vxlan_port",
                            "forward_drop", "nft_table", "vxlan_allow"}) {
    EXPECT_NE(std::find(r.checksRun.begin(), r.checksRun.end(), check), r.checksRun.end()) << check;
  }
}

}  // namespace
}  // namespace ovl::diag
