// diagnostics/paths: the paths a node's packets take (which legs arrive where).
#include "diagnostics/paths.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "overlay/overlay_plan.h"
#include "tests/unit/diagnostics/three_nodes.h"

namespace ovl::diag {
namespace {

using test::threeNodes;

Ipv4 ip(const char* s) {
  return *Ipv4::parse(s);
}

std::vector<Probe> probesOf(const Cluster& c, const std::string& self,
                            std::optional<Ipv4> client = std::nullopt, size_t maxPeers = 0) {
  auto plan = planOverlay(c, self, PlanNames{"", "ovlbr0"});
  EXPECT_TRUE(plan);
  PathInputs in;
  in.plan = &*plan;
  in.network = c.network;
  in.services = summarize(c.services);
  in.underlayInterface = "eth0";
  in.outsideClient = client;
  in.maxPeers = maxPeers;
  return planProbes(in);
}

bool hasProbe(const std::vector<Probe>& ps, const std::string& iif, const char* src,
              const char* dst) {
  return std::any_of(ps.begin(), ps.end(), [&](const Probe& p) {
    return p.iif == iif && p.src == ip(src) && p.dst == ip(dst);
  });
}

TEST(Paths, PodToPodLegsArriveOnTheVtepAndTheBridge) {
  const auto ps = probesOf(threeNodes("off-cluster", true, false), "a");
  EXPECT_EQ(ps.size(), 4U);  // two legs per peer, no service legs under masquerade
  EXPECT_TRUE(hasProbe(ps, "ovl.1", "10.244.2.2", "10.244.1.2"));
  EXPECT_TRUE(hasProbe(ps, "ovlbr0", "10.244.1.2", "10.244.3.2"));
  EXPECT_EQ(ps[0].command(), "ip route get 10.244.1.2 from 10.244.2.2 iif ovl.1");
  EXPECT_EQ(podAddress(*Ipv4Prefix::parse("10.244.7.0/24")), ip("10.244.7.2"));
}

TEST(Paths, MasqueradeNoneAddsTheHostToServiceRequestAndReply) {
  const auto ps = probesOf(threeNodes("none", true, false), "b");
  // The request from a's host arrives on b's VTEP with a's underlay address...
  EXPECT_TRUE(hasProbe(ps, "ovl.1", "192.168.50.1", "10.244.2.2"));
  // ...and the reply to b's host from c's pod arrives on b's underlay.
  EXPECT_TRUE(hasProbe(ps, "eth0", "10.244.3.2", "192.168.50.2"));
  const auto it = std::find_if(ps.begin(), ps.end(), [](const Probe& p) {
    return p.iif == "eth0" && p.src == ip("10.244.1.2");
  });
  ASSERT_NE(it, ps.end());
  EXPECT_EQ(it->path, "host on b -> service -> endpoint on a (masquerade none)");
  EXPECT_EQ(it->leg, "reply arriving on b");
  // No service with endpoints: no service legs.
  EXPECT_EQ(probesOf(threeNodes("none", false, false), "b").size(), 4U);
}

TEST(Paths, NodePortLegsNeedAnOutsideClientAndTheSampleLimitsPeers) {
  const Cluster c = threeNodes("none", true, true);
  const auto without = probesOf(c, "a");
  const auto with = probesOf(c, "a", ip("192.168.50.254"));
  EXPECT_EQ(with.size(), without.size() + 4);
  EXPECT_TRUE(hasProbe(with, "ovl.1", "192.168.50.254", "10.244.1.2"));
  EXPECT_TRUE(hasProbe(with, "eth0", "192.168.50.254", "10.244.2.2"));
  EXPECT_EQ(probesOf(c, "a", std::nullopt, 1).size(), without.size() / 2);
}

}  // namespace
}  // namespace ovl::diag
