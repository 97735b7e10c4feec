// The node's local state files shared by ovl-agent and ovl-cni (common/local_state.h).
#include "common/local_state.h"

#include <gtest/gtest.h>

namespace ovl {
namespace {

const Ipv4Prefix kSubnet = *Ipv4Prefix::parse("10.244.1.0/24");
const Ipv4 kGateway = *Ipv4::parse("10.244.1.1");

Ipv4 ip(const char* s) {
  return *Ipv4::parse(s);
}

TEST(LocalState, NodeStateRoundTripAndErrors) {
  NodeState n{"node1", kSubnet, kGateway, 1450, "ovlbr0", "/run/ovl/endpoints"};
  auto back = NodeState::parse(n.toJson(), "node.json");
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, n);
  auto bad = NodeState::parse(
      R"({"node":"n","subnet":"10.244.1.0/24","gateway":"10.9.9.9","mtu":1450,"bridge":"b",
          "endpointsDir":"/e"})",
      "node.json");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("gateway"), std::string::npos);
  EXPECT_FALSE(NodeState::parse(R"({"node":"n"})", "node.json"));
}

TEST(LocalState, EndpointRoundTripAndServiceNames) {
  LocalEndpoint e{"default/web", ip("10.244.1.7"), "node1", "ovl-t1", "eth0"};
  auto back = LocalEndpoint::parse(e.toJson(), "e.json");
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, e);
  EXPECT_EQ(LocalEndpoint::fileName("ovl-t1", "eth0"), "ovl-t1.eth0.json");
  EXPECT_EQ(checkServiceName("default/web"), "");
  EXPECT_NE(checkServiceName("web"), "");
  EXPECT_NE(checkServiceName("Default/web"), "");
  EXPECT_NE(checkServiceName("default/-web"), "");
  EXPECT_NE(checkServiceName("a/b/c"), "");
}

}  // namespace
}  // namespace ovl
