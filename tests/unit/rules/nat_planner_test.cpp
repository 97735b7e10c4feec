#include "rules/nat_planner.h"

#include <gtest/gtest.h>

#include <map>

namespace ovl::nat {
namespace {

using svc::Endpoint;
using svc::Service;
using svc::ServicePort;

Ipv4 ip(const char* s) {
  return *Ipv4::parse(s);
}

Endpoint ep(const char* addr, const char* node, std::optional<uint32_t> weight = std::nullopt) {
  Endpoint e;
  e.ip = ip(addr);
  e.node = node;
  e.weight = weight;
  return e;
}

Service web() {
  Service s;
  s.ns = "default";
  s.name = "web";
  s.clusterIps = {ip("10.96.0.10")};
  s.ports = {ServicePort{"http", svc::Protocol::kTcp, 80, 8080, std::nullopt}};
  s.endpoints = {ep("10.244.2.11", "node2"), ep("10.244.1.11", "node1"),
                 ep("10.244.3.11", "node3")};
  return s;
}

PlanInputs inputs() {
  return PlanInputs{"node1", *Ipv4Prefix::parse("10.244.0.0/16"), svc::MasqueradeMode::kOffCluster,
                    std::nullopt};
}

std::map<std::string, uint32_t> slotsPerEndpoint(const NatPlan& p, Ipv4 vip, uint16_t port) {
  std::map<std::string, uint32_t> m;
  for (const auto& s : p.slots) {
    if (s.vip == vip && s.port == port) {
      m[s.endpoint.toString() + ":" + std::to_string(s.endpointPort)]++;
    }
  }
  return m;
}

TEST(PlanNat, ClusterIpBalancesOverReadyEndpointsInStableSlots) {
  auto p = planNat({web()}, inputs());
  ASSERT_EQ(p.vips.size(), 1u);
  const VipEntry& v = p.vips[0];
  EXPECT_EQ(v.ip.toString(), "10.96.0.10");
  EXPECT_EQ(v.port, 80);
  EXPECT_EQ(v.target.kind, Target::Kind::kBalance);
  EXPECT_EQ(v.target.slots, 3u);
  EXPECT_FALSE(v.target.masquerade);
  EXPECT_EQ(v.comment, "default/web:http");
  ASSERT_EQ(p.slots.size(), 3u);
  // Slots in address order, whatever the order of the endpoints in the service.
  EXPECT_EQ(p.slots[0].endpoint.toString(), "10.244.1.11");
  EXPECT_EQ(p.slots[0].slot, 0u);
  EXPECT_EQ(p.slots[2].endpoint.toString(), "10.244.3.11");
  EXPECT_EQ(p.slots[2].slot, 2u);
  EXPECT_EQ(p.slots[0].endpointPort, 8080);
  EXPECT_EQ(p.slots[1].comment, "default/web:http -> 10.244.2.11:8080");
  EXPECT_EQ(p.slotCounts, std::set<uint32_t>{3});
  EXPECT_EQ(p.hairpin, std::vector<Ipv4>{ip("10.244.1.11")}) << "only this node's endpoints";
  EXPECT_EQ(planNat({web()}, inputs()), p) << "deterministic";
}

TEST(PlanNat, EndpointsWithoutTheirNodeAreFoundByThisNodesSubnet) {
  // `node` is optional (ovlctl service apply, a hand-written file): a pod that is an endpoint
  // of the service it calls must still be masqueraded when it lands on itself.
  Service s = web();
  for (auto& e : s.endpoints) {
    e.node.clear();
  }
  PlanInputs in = inputs();
  EXPECT_TRUE(planNat({s}, in).hairpin.empty()) << "no subnet given: nothing to tell them apart";
  in.selfSubnet = *Ipv4Prefix::parse("10.244.1.0/24");
  EXPECT_EQ(planNat({s}, in).hairpin, std::vector<Ipv4>{ip("10.244.1.11")});
  // A named node does not hide an address in this node's subnet (where the subnet is routed
  // decides where the pod is), and a named node outside it still counts.
  s = web();
  s.endpoints[1].node = "node2";                      // 10.244.1.11, routed to this node
  s.endpoints.push_back(ep("10.244.9.11", "node1"));  // named this node
  EXPECT_EQ(planNat({s}, in).hairpin, (std::vector<Ipv4>{ip("10.244.1.11"), ip("10.244.9.11")}));
  // Traffic policy Local: the same notion of "on this node".
  s = web();
  s.internalTrafficPolicy = svc::TrafficPolicy::kLocal;
  for (auto& e : s.endpoints) {
    e.node.clear();
  }
  auto p = planNat({s}, in);
  ASSERT_EQ(p.slots.size(), 1u);
  EXPECT_EQ(p.slots[0].endpoint.toString(), "10.244.1.11");
  in.selfSubnet = *Ipv4Prefix::parse("10.244.7.0/24");
  EXPECT_EQ(planNat({s}, in).vips[0].target.kind, Target::Kind::kDrop);
}

TEST(PlanNat, WeightsGiveProportionalSlotsReducedByGcd) {
  Service s = web();
  s.endpoints = {ep("10.244.1.11", "node1", 2), ep("10.244.2.11", "node2", 6),
                 ep("10.244.3.11", "node3", 0)};
  auto p = planNat({s}, inputs());
  auto m = slotsPerEndpoint(p, ip("10.96.0.10"), 80);
  EXPECT_EQ(m, (std::map<std::string, uint32_t>{{"10.244.1.11:8080", 1}, {"10.244.2.11:8080", 3}}));
  EXPECT_EQ(p.vips[0].target.slots, 4u);
}

TEST(PlanNat, HugeWeightsAreCappedProportionally) {
  Service s = web();
  s.endpoints = {ep("10.244.1.11", "node1", 1), ep("10.244.2.11", "node2", 100000),
                 ep("10.244.3.11", "node3", 50000)};
  auto p = planNat({s}, inputs());
  auto m = slotsPerEndpoint(p, ip("10.96.0.10"), 80);
  EXPECT_LE(p.vips[0].target.slots, kMaxSlots);
  EXPECT_EQ(m["10.244.1.11:8080"], 1u) << "a weighted endpoint keeps a slot";
  EXPECT_NEAR(static_cast<double>(m["10.244.2.11:8080"]) / m["10.244.3.11:8080"], 2.0, 0.01);
}

TEST(PlanNat, TerminatingEndpointsServeOnlyWhenNoneIsReady) {
  Service s = web();
  s.endpoints[0].ready = false;
  s.endpoints[0].terminating = true;  // still serving
  auto p = planNat({s}, inputs());
  EXPECT_EQ(p.vips[0].target.slots, 2u);
  for (auto& e : s.endpoints) {
    e.ready = false;
    e.terminating = true;
  }
  s.endpoints[1].serving = false;
  p = planNat({s}, inputs());
  EXPECT_EQ(p.vips[0].target.slots, 2u) << "the two terminating endpoints that still serve";
}

TEST(PlanNat, NoEndpointsRejectsAndLocalWithoutLocalEndpointsDrops) {
  Service s = web();
  s.endpoints.clear();
  auto p = planNat({s}, inputs());
  EXPECT_EQ(p.vips[0].target.kind, Target::Kind::kReject);
  EXPECT_TRUE(p.slots.empty());
  EXPECT_TRUE(p.slotCounts.empty());

  s = web();
  s.internalTrafficPolicy = svc::TrafficPolicy::kLocal;
  p = planNat({s}, PlanInputs{"node9", inputs().podCidr, inputs().masquerade, std::nullopt});
  EXPECT_EQ(p.vips[0].target.kind, Target::Kind::kDrop);
  p = planNat({s}, inputs());
  EXPECT_EQ(p.vips[0].target.slots, 1u);
  EXPECT_EQ(p.slots[0].endpoint.toString(), "10.244.1.11");
}

TEST(PlanNat, NodePortAndExternalIpsFollowExternalPolicy) {
  Service s = web();
  s.type = svc::ServiceType::kNodePort;
  s.externalIps = {ip("192.168.50.100")};
  s.ports[0].nodePort = 30080;
  auto p = planNat({s}, inputs());
  ASSERT_EQ(p.nodePorts.size(), 1u);
  EXPECT_EQ(p.nodePorts[0].port, 30080);
  EXPECT_TRUE(p.nodePorts[0].target.masquerade) << "ETP Cluster: replies must come back here";
  ASSERT_EQ(p.vips.size(), 2u);
  EXPECT_EQ(slotsPerEndpoint(p, Ipv4{}, 30080).size(), 3u);
  EXPECT_EQ(slotsPerEndpoint(p, ip("192.168.50.100"), 80).size(), 3u);

  s.externalTrafficPolicy = svc::TrafficPolicy::kLocal;
  p = planNat({s}, inputs());
  EXPECT_FALSE(p.nodePorts[0].target.masquerade) << "ETP Local keeps the client's address";
  EXPECT_TRUE(p.nodePorts[0].target.keepSource) << "even from the off-cluster masquerade rule";
  EXPECT_FALSE(p.vips[0].target.keepSource) << "internal traffic follows internalTrafficPolicy";
  EXPECT_EQ(slotsPerEndpoint(p, Ipv4{}, 30080),
            (std::map<std::string, uint32_t>{{"10.244.1.11:8080", 1}}));
  EXPECT_EQ(slotsPerEndpoint(p, ip("10.96.0.10"), 80).size(), 3u) << "internal: Cluster";

  s.externalTrafficPolicy = svc::TrafficPolicy::kCluster;
  p = planNat({s}, PlanInputs{"node1", inputs().podCidr, svc::MasqueradeMode::kNone, std::nullopt});
  EXPECT_FALSE(p.nodePorts[0].target.masquerade) << "masquerade: none means none";
}

TEST(PlanNat, ClusterIpServicesHaveNoNodePortsAndAffinityCarriesItsTimeout) {
  Service s = web();
  s.ports[0].nodePort = 30080;  // ignored for ClusterIP
  s.affinityClientIp = true;
  s.affinityTimeoutSeconds = 600;
  auto p = planNat({s}, inputs());
  EXPECT_TRUE(p.nodePorts.empty());
  EXPECT_EQ(p.vips[0].target.affinityTimeout, 600u);
}

TEST(PlanNat, PerPortNameOverridesAndSeveralPorts) {
  Service s = web();
  s.ports.push_back(ServicePort{"dns", svc::Protocol::kUdp, 53, 0, std::nullopt});
  s.endpoints[1].ports["http"] = 9090;  // 10.244.1.11
  auto p = planNat({s}, inputs());
  EXPECT_EQ(p.vips.size(), 2u);
  auto http = slotsPerEndpoint(p, ip("10.96.0.10"), 80);
  EXPECT_EQ(http.count("10.244.1.11:9090"), 1u);
  auto dns = slotsPerEndpoint(p, ip("10.96.0.10"), 53);
  EXPECT_EQ(dns.count("10.244.1.11:53"), 1u) << "targetPort unset = port";
}

TEST(PlanNat, CommentsFitWhatNftablesKeeps) {
  Service s = web();
  s.ns = std::string(63, 'n');
  s.name = std::string(63, 'm');
  auto p = planNat({s}, inputs());
  EXPECT_EQ(p.vips[0].comment.size(), kMaxComment);
  for (const auto& e : p.slots) {
    EXPECT_LE(e.comment.size(), kMaxComment);
  }
}

}  // namespace
}  // namespace ovl::nat
