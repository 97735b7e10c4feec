// diagnostics/trace: `ovlctl trace`'s flow parsing and its service part (planTrace).
#include "diagnostics/trace.h"

#include <gtest/gtest.h>

#include "overlay/overlay_plan.h"
#include "tests/unit/diagnostics/three_nodes.h"

namespace ovl::diag {
namespace {

using test::threeNodes;

TEST(Trace, ParsesFlowsAndNamesWhatIsWrong) {
  auto f = parseFlow("10.244.1.2", "10.96.0.10:80/udp");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->toString(), "10.244.1.2 -> 10.96.0.10:80/udp");
  EXPECT_EQ(parseFlow("10.244.1.2", "10.96.0.10:80")->protocol, svc::Protocol::kTcp);
  EXPECT_EQ(parseFlow("x", "10.96.0.10:80").error().message, "SRC 'x': expected an IPv4 address");
  EXPECT_EQ(parseFlow("10.0.0.1", "10.96.0.10:0").error().message,
            "DST '10.96.0.10:0': port '0' is not in 1..65535");
  EXPECT_EQ(parseFlow("10.0.0.1", "10.96.0.10:80/icmp").error().message,
            "DST '10.96.0.10:80/icmp': protocol 'icmp' is not tcp, udp or sctp");
}

TEST(Trace, ServiceEndpointsProbabilitiesAndMasquerade) {
  const Cluster c = threeNodes("off-cluster", true, true);
  auto plan = planOverlay(c, "a", PlanNames{"", "ovlbr0"});
  ASSERT_TRUE(plan);
  auto tp = planTrace(c, *plan, *parseFlow("192.168.50.1", "10.96.0.10:80"), false);
  EXPECT_EQ(tp.match, "service default/web:http");
  EXPECT_EQ(tp.verdict, "balance");
  ASSERT_EQ(tp.endpoints.size(), 2U);
  EXPECT_EQ(tp.endpoints[0].node, "b");
  EXPECT_DOUBLE_EQ(tp.endpoints[0].probability, 0.25);
  EXPECT_EQ(tp.endpoints[1].node, "c");
  EXPECT_DOUBLE_EQ(tp.endpoints[1].probability, 0.75);
  EXPECT_EQ(tp.endpoints[1].port, 8080);
  EXPECT_TRUE(tp.masquerade);  // a host address, off the pod network
  // From a pod: not masqueraded.
  EXPECT_FALSE(planTrace(c, *plan, *parseFlow("10.244.1.5", "10.96.0.10:80"), false).masquerade);
  // The NodePort, on a local address: external traffic policy Cluster masquerades.
  tp = planTrace(c, *plan, *parseFlow("203.0.113.7", "192.168.50.1:30080"), true);
  EXPECT_EQ(tp.match, "service default/web:http (NodePort 30080)");
  EXPECT_TRUE(tp.masquerade);
  // Nothing matches: routed as is.
  EXPECT_TRUE(planTrace(c, *plan, *parseFlow("10.244.1.5", "10.96.0.10:81"), false).match.empty());
}

}  // namespace
}  // namespace ovl::diag
